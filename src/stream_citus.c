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
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"
#include "pgarray.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "stream_int.h"
#include "util.h"

#define STREAM_CITUS_MAX_NODES 64
#define STREAM_CITUS_STATUS_US (10 * INT64_C(1000000)) /* status update at least this often */
#define STREAM_CITUS_IDLE_MS 20          /* commit a batch this soon once every stream pauses */
#define STREAM_CITUS_IDLE_ASK_MS 1000    /* idle: ask a node for its WAL end this often */
#define STREAM_CITUS_ASK_MS 10           /* a node another waits on: ask this often */
#define STREAM_CITUS_NODES_MS 5000       /* look for nodes that joined or left this often */
#define STREAM_CITUS_BURST 256           /* messages read from one node before the next */
#define STREAM_CITUS_HOLD_SAY_US (30 * INT64_C(1000000))

typedef struct stream_node {
    char source[96]; /* 'host:port': its stream_checkpoint.source */
    char host[64];
    int port;
    int has_shards;  /* placements on it when the consumer set up */
    PGconn *repl;    /* its change stream */
    PGconn *sql;     /* a plain connection, for its WAL position at a hand-over */
    stream_relmap map;
    /* Its checkpoint as committed. */
    uint64_t ck_commit, ck_end, ck_partial;
    int64_t ck_partial_rows;
    /* Handled into the batch: the last transaction in full and how far the stream is known to
     * be handled (a commit's end, or a keepalive's WAL end with nothing in flight). */
    uint64_t commit_lsn, end_lsn;
    int64_t commit_time; /* µs since 1970 of that transaction's commit, 0: none in the batch */
    int64_t b_rows;      /* rows of the batch from this node */
    /* The transaction being decoded. */
    int in_txn;
    uint64_t txn_lsn;
    int64_t txn_rows, txn_skip;
    uint64_t received;
    int64_t last_status_us;
    /* A row held at a hand-over: the message, the node waited on and the position. */
    uint8_t *held;
    size_t held_len;
    int wait_node;
    uint64_t wait_lsn;
    int64_t held_since_us, held_said_us;
} stream_node;

typedef struct stream_robot_src {
    int32_t robot;
    int16_t node;
    uint8_t dirty; /* changed since the last commit */
} stream_robot_src;

typedef struct stream_citus {
    stream_node node[STREAM_CITUS_MAX_NODES];
    int nnodes;
    char nodes_sig[2048];      /* the node list it set up with, to see a change */
    stream_robot_src *robots;  /* sorted by robot */
    size_t nrobots, robots_cap;
    int ndirty;
    int64_t last_nodes_us;
} stream_citus;

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

static PGconn *stream_node_connect(const consumer *c, const stream_node *n, int replication)
{
    return stream_node_connect_like(c->db, c->o->consumer, n, replication);
}

static int stream_node_lost(const stream_node *n, PGconn *conn, const char *what, char *err,
                            size_t errlen)
{
    util_err(err, errlen, "node %s: %s: %s", n->source, what, PQerrorMessage(conn));
    return PGCONN_LOST;
}

/* The active primary nodes, ordered by node id, as "host:port,..." into sig and into cs. */
static int stream_citus_list(consumer *c, stream_citus *cs, char *sig, size_t siglen, char *err,
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
        if (o < siglen) o += (size_t)snprintf(sig + o, siglen - o, "%s%s:%d", i ? "," : "", host, port);
    }
    if (cs) cs->nnodes = n;
    PQclear(r);
    return 0;
}

int stream_citus_detect(consumer *c, int *citus, char *err, size_t errlen)
{
    *citus = 0;
    PGresult *r = NULL;
    int rc = pgconn_query(c->db, "SELECT 1 FROM pg_extension WHERE extname = 'citus'", 0, NULL,
                          PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    int have = PQntuples(r) == 1;
    PQclear(r);
    if (!have) return 0;
    rc = pgconn_query(c->db,
                      "SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'reading'::regclass "
                      "AND partmethod = 'h'",
                      0, NULL, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    *citus = PQntuples(r) == 1;
    PQclear(r);
    if (!*citus) return 0;
    if (c->o->poll)
        return util_err(err, errlen,
                        "consumer '%s': reading is distributed (Citus), and polling reads by "
                        "transaction id, which is per node there: read by change capture",
                        c->o->consumer);
    if (c->o->stop_lsn)
        return util_err(err, errlen, "consumer '%s': a stop position is one node's WAL position; "
                                     "on Citus there is one per node",
                        c->o->consumer);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Robots: the node that last delivered each */

static stream_robot_src *stream_robot_find(stream_citus *cs, int32_t robot, size_t *at)
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

static void stream_robot_set(stream_citus *cs, int32_t robot, int node, int dirty)
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
    int rc = pgconn_query(c->db,
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
        n->ck_commit = !PQgetisnull(r, i, 1) && !pgoutput_lsn_parse(PQgetvalue(r, i, 1), &lsn) ? lsn : 0;
        lsn = 0;
        n->ck_end = !PQgetisnull(r, i, 2) && !pgoutput_lsn_parse(PQgetvalue(r, i, 2), &lsn) ? lsn : 0;
        lsn = 0;
        n->ck_partial = !PQgetisnull(r, i, 3) && !pgoutput_lsn_parse(PQgetvalue(r, i, 3), &lsn) ? lsn : 0;
        n->ck_partial_rows = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        seen[k] = 1;
    }
    PQclear(r);
    *missing = 0;
    for (int k = 0; k < cs->nnodes; k++)
        if (!seen[k]) (*missing)++;
    for (int k = 0; k < cs->nnodes; k++)
        if (seen[k]) cs->node[k].has_shards = -1; /* known: has a row */
    return 0;
}

static int stream_citus_read_robots(consumer *c, stream_citus *cs, char *err, size_t errlen)
{
    const char *p[] = {c->o->consumer};
    PGresult *r = NULL;
    int rc = pgconn_query(c->db,
                          "SELECT robot_id, source FROM stream_robot_source WHERE consumer = $1",
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
            if (n->has_shards == 1)
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
            if (n->has_shards == -1 && !fresh) continue;
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
/* Commit */

/* What node n has applied of a transaction in part, for its checkpoint: the transaction it stands
 * inside (the rows handled so far, or more while it still skips what an earlier run applied: a
 * commit can come at any row of any node); else the part recorded before, as long as the node
 * has not come back to that transaction (after a restart, other nodes' rows can be committed
 * before this node's stream reaches it again). Returns the rows (0: none) and *lsn. */
static int64_t stream_node_part(const stream_node *n, uint64_t *lsn)
{
    *lsn = 0;
    if (n->in_txn && n->txn_skip >= 0 && (n->txn_rows > 0 || n->txn_skip > 0)) {
        *lsn = n->txn_lsn;
        return n->txn_rows > n->txn_skip ? n->txn_rows : n->txn_skip;
    }
    if (n->ck_partial && n->commit_lsn < n->ck_partial && !(n->in_txn && n->txn_lsn == n->ck_partial)) {
        *lsn = n->ck_partial;
        return n->ck_partial_rows;
    }
    return 0;
}

static int stream_citus_commit(consumer *c, char *err, size_t errlen)
{
    stream_citus *cs = c->citus;
    int64_t t0 = util_mono_us();
    int64_t batch_rows = (int64_t)c->nrows;
    int rc = stream_commit_stages(c, err, errlen);
    /* Every node's position: what it handled in full, and a transaction it is inside. */
    buf src = {0}, com = {0}, end = {0}, par = {0}, prw = {0}, nrw = {0}, tim = {0};
    buf_puts(&src, "{");
    buf_puts(&com, "{");
    buf_puts(&end, "{");
    buf_puts(&par, "{");
    buf_puts(&prw, "{");
    buf_puts(&nrw, "{");
    buf_puts(&tim, "{");
    int64_t last_time = 0;
    for (int k = 0; k < cs->nnodes; k++) {
        stream_node *n = &cs->node[k];
        char a[32], b[32], p[32];
        pgoutput_lsn_format(n->commit_lsn, a, sizeof a);
        pgoutput_lsn_format(n->end_lsn, b, sizeof b);
        uint64_t part_lsn;
        int64_t part = stream_node_part(n, &part_lsn);
        pgoutput_lsn_format(part_lsn, p, sizeof p);
        const char *sep = k ? "," : "";
        buf_printf(&src, "%s\"%s\"", sep, n->source);
        buf_printf(&com, "%s%s", sep, n->commit_lsn ? a : "NULL");
        buf_printf(&end, "%s%s", sep, n->end_lsn ? b : "NULL");
        buf_printf(&par, "%s%s", sep, part ? p : "NULL");
        buf_printf(&prw, "%s%lld", sep, (long long)part);
        buf_printf(&nrw, "%s%lld", sep, (long long)n->b_rows);
        buf_printf(&tim, "%s%.6f", sep, (double)n->commit_time / 1e6);
        if (n->commit_time > last_time) last_time = n->commit_time;
    }
    buf *all[] = {&src, &com, &end, &par, &prw, &nrw, &tim};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(all); i++)
        buf_append(all[i], "}", 2);
    if (rc == 0) {
        const char *p[] = {c->o->consumer,         (const char *)src.data,
                           (const char *)com.data, (const char *)end.data,
                           (const char *)par.data, (const char *)prw.data,
                           (const char *)nrw.data, (const char *)tim.data};
        rc = pgconn_query(c->db,
                          "UPDATE stream_checkpoint k SET mode = 'stream', commit_lsn = u.c, "
                          "end_lsn = u.e, partial_lsn = u.p, partial_rows = u.pr, rows = k.rows "
                          "+ u.n, last_commit = CASE WHEN u.t > 0 THEN to_timestamp(u.t) ELSE "
                          "k.last_commit END, updated_at = now() FROM unnest($2::text[], "
                          "$3::pg_lsn[], $4::pg_lsn[], $5::pg_lsn[], $6::bigint[], $7::bigint[], "
                          "$8::float8[]) AS u(s, c, e, p, pr, n, t) WHERE k.consumer = $1 AND "
                          "k.source = u.s",
                          8, p, PGRES_COMMAND_OK, NULL, err, errlen);
    }
    if (rc == 0) {
        char n[24], t[40];
        snprintf(n, sizeof n, "%lld", (long long)batch_rows);
        snprintf(t, sizeof t, "%.6f", (double)last_time / 1e6);
        const char *p[] = {c->o->consumer, STREAM_SOURCE_LOCAL, n, last_time ? t : NULL};
        rc = pgconn_query(c->db,
                          "UPDATE stream_checkpoint SET rows = rows + $3, last_commit = "
                          "coalesce(to_timestamp($4::float8), last_commit), updated_at = now() "
                          "WHERE consumer = $1 AND source = $2",
                          4, p, PGRES_COMMAND_OK, NULL, err, errlen);
    }
    if (rc == 0 && cs->ndirty) {
        pgarray robots = {0}, sources = {0};
        for (size_t i = 0; i < cs->nrobots; i++)
            if (cs->robots[i].dirty) {
                pgarray_int(&robots, cs->robots[i].robot);
                pgarray_str(&sources, cs->node[cs->robots[i].node].source);
            }
        const char *p[] = {c->o->consumer, pgarray_end(&robots), pgarray_end(&sources)};
        rc = pgconn_query(c->db,
                          "INSERT INTO stream_robot_source (consumer, robot_id, source) SELECT $1, "
                          "r, s FROM unnest($2::int[], $3::text[]) AS u(r, s) ON CONFLICT "
                          "(consumer, robot_id) DO UPDATE SET source = EXCLUDED.source",
                          3, p, PGRES_COMMAND_OK, NULL, err, errlen);
        pgarray_free(&robots);
        pgarray_free(&sources);
    }
    if (rc == 0) rc = pgconn_exec(c->db, "COMMIT", err, errlen);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(all); i++)
        buf_free(all[i]);
    if (rc) {
        PQclear(PQexec(c->db, "ROLLBACK"));
        return rc;
    }
    for (int k = 0; k < cs->nnodes; k++) {
        stream_node *n = &cs->node[k];
        n->ck_commit = n->commit_lsn;
        n->ck_end = n->end_lsn;
        uint64_t part_lsn;
        int64_t part = stream_node_part(n, &part_lsn);
        n->ck_partial = part ? part_lsn : 0;
        n->ck_partial_rows = part;
        n->b_rows = 0;
        n->commit_time = 0;
    }
    for (size_t i = 0; i < cs->nrobots; i++)
        cs->robots[i].dirty = 0;
    cs->ndirty = 0;
    c->ck.rows += batch_rows;
    stream_batch_done(c, t0);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The streams */

static int64_t stream_citus_pg_now(void)
{
    return util_now_us() - COPYBIN_PG_EPOCH_US;
}

/* A standby status update to node n: flushed up to its committed end (or further while
 * nothing of it is in flight); with reply, it answers with its WAL end. */
static int stream_node_status(stream_node *n, int reply, char *err, size_t errlen)
{
    buf b = {0};
    uint64_t written = n->received > n->ck_end ? n->received : n->ck_end;
    pgoutput_write_status(&b, written, n->ck_end, 0, stream_citus_pg_now(), reply);
    int ok = PQputCopyData(n->repl, (const char *)b.data, (int)b.len) == 1 && PQflush(n->repl) == 0;
    buf_free(&b);
    n->last_status_us = util_mono_us();
    return ok ? 0 : stream_node_lost(n, n->repl, "sending status", err, errlen);
}

static int stream_node_start(consumer *c, stream_node *n, char *err, size_t errlen)
{
    n->repl = stream_node_connect(c, n, 1);
    if (PQstatus(n->repl) != CONNECTION_OK) return stream_node_lost(n, n->repl, "connecting", err, errlen);
    char start[32], cmd[512];
    pgoutput_lsn_format(n->ck_end, start, sizeof start);
    /* Names checked at registration (stream_register): safe as identifiers and literals. */
    snprintf(cmd, sizeof cmd,
             "START_REPLICATION SLOT \"%s\" LOGICAL %s (proto_version '1', publication_names "
             "'%s', binary 'true')",
             c->slot, start, c->pub);
    PGresult *r = PQexec(n->repl, cmd);
    if (PQresultStatus(r) == PGRES_COPY_BOTH) {
        PQclear(r);
        n->last_status_us = util_mono_us();
        return 0;
    }
    char msg[512];
    pgconn_result_error(r, n->repl, msg, sizeof msg);
    int rc;
    if (pgconn_is_sqlstate(r, "42704") || pgconn_is_sqlstate(r, "55000"))
        /* gone, or invalidated: what it held is lost to this consumer */
        rc = util_err(err, errlen,
                      "the replication slot %s of consumer '%s' on node %s is gone or was "
                      "invalidated (%s): on Citus the rows it held cannot be read again from the "
                      "table; `pgpulse slots drop %s` starts the consumer afresh",
                      c->slot, c->o->consumer, n->source, msg, c->o->consumer);
    else if (pgconn_result_lost(n->repl, r) || pgconn_is_sqlstate(r, "55006"))
        rc = (util_err(err, errlen, "node %s: %s", n->source, msg), PGCONN_LOST);
    else
        rc = util_err(err, errlen, "node %s: %s", n->source, msg);
    PQclear(r);
    return rc;
}

/* Node n's WAL flush position now, into *lsn (the hand-over's mark). */
static int stream_node_position(consumer *c, stream_node *n, uint64_t *lsn, char *err,
                                size_t errlen)
{
    if (!n->sql || PQstatus(n->sql) != CONNECTION_OK) {
        if (n->sql) PQfinish(n->sql);
        n->sql = stream_node_connect(c, n, 0);
        if (PQstatus(n->sql) != CONNECTION_OK) return stream_node_lost(n, n->sql, "connecting", err, errlen);
    }
    PGresult *r = NULL;
    int rc = pgconn_query(n->sql, "SELECT pg_current_wal_flush_lsn()::text", 0, NULL,
                          PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    rc = pgoutput_lsn_parse(PQgetvalue(r, 0, 0), lsn) == 0
             ? 0
             : util_err(err, errlen, "node %s: bad WAL position", n->source);
    PQclear(r);
    return rc;
}

/* Has node n's stream passed the position a held row waits for? */
static int stream_node_passed(const stream_node *n, uint64_t lsn)
{
    return !n->in_txn && !n->held && n->end_lsn >= lsn;
}

/* Handles one pgoutput message of node k. Returns 0, 1 when the message was held (a hand-over:
 * the node reads nothing more until it is released), or an error. A released message (held
 * until its robot's previous node passed the move) is applied without looking again. */
static int stream_node_message(consumer *c, int k, const uint8_t *data, size_t len, int released,
                               char *err, size_t errlen)
{
    stream_citus *cs = c->citus;
    stream_node *n = &cs->node[k];
    pgoutput_msg m;
    char msg[256];
    if (pgoutput_read(data, len, &m, msg, sizeof msg) != 0)
        return util_err(err, errlen, "node %s: undecodable replication message: %s", n->source, msg);
    switch (m.kind) {
    case 'B':
        n->in_txn = 1;
        n->txn_lsn = m.u.begin.final_lsn;
        n->txn_rows = 0;
        n->txn_skip = 0;
        if (n->commit_lsn && m.u.begin.final_lsn <= n->commit_lsn)
            n->txn_skip = -1; /* applied before a restart */
        else if (n->ck_partial && m.u.begin.final_lsn == n->ck_partial)
            n->txn_skip = n->ck_partial_rows;
        return 0;
    case 'R':
        if (stream_relmap_read(&n->map, &m, msg, sizeof msg))
            return util_err(err, errlen, "node %s: %s", n->source, msg);
        return 0;
    case 'I': {
        if (m.u.insert.relid != n->map.relid || n->txn_skip < 0) return 0;
        if (n->txn_rows + 1 <= n->txn_skip) {
            n->txn_rows++;
            return 0;
        }
        reading r;
        if (stream_relmap_row(&n->map, &m, &r, msg, sizeof msg))
            return util_err(err, errlen, "node %s: %s", n->source, msg);
        stream_robot_src *s = stream_robot_find(cs, r.robot_id, NULL);
        if (s && s->node != k && !released) {
            /* Robot r moved here from node s->node: hold until that node has passed now. */
            stream_node *o = &cs->node[s->node];
            uint64_t lsn;
            int rc = stream_node_position(c, o, &lsn, err, errlen);
            if (rc) return rc;
            if (!stream_node_passed(o, lsn)) {
                n->wait_node = s->node;
                n->wait_lsn = lsn;
                n->held_since_us = n->held_said_us = util_mono_us();
                stream_log(c, "robot %d moved from node %s to %s: holding %s until %s has passed it",
                           (int)r.robot_id, o->source, n->source, n->source, o->source);
                return 1;
            }
        }
        if (!s || s->node != k) stream_robot_set(cs, r.robot_id, k, 1);
        n->txn_rows++;
        n->b_rows++;
        stream_add_row(c, &r);
        return 0;
    }
    case 'C':
        n->in_txn = 0;
        if (n->txn_skip >= 0) {
            n->commit_lsn = m.u.commit.commit_lsn;
            n->commit_time = m.u.commit.commit_time + COPYBIN_PG_EPOCH_US;
        }
        if (m.u.commit.end_lsn > n->end_lsn) n->end_lsn = m.u.commit.end_lsn;
        return 0;
    case 'T':
        stream_log(c, "note: reading was truncated on node %s; stages keep what they have",
                   n->source);
        return 0;
    default:
        return 0;
    }
}

/* Node k's envelope (CopyData). Returns 0, 1 (held), or an error. */
static int stream_node_envelope(consumer *c, int k, const uint8_t *data, size_t len, char *err,
                                size_t errlen)
{
    stream_node *n = &c->citus->node[k];
    pgoutput_envelope e;
    char msg[256];
    if (pgoutput_read_envelope(data, len, &e, msg, sizeof msg))
        return util_err(err, errlen, "node %s: replication: %s", n->source, msg);
    if (e.wal_end > n->received) n->received = e.wal_end;
    if (e.kind == 'w') return stream_node_message(c, k, e.data, e.data_len, 0, err, errlen);
    if (e.kind == 'k') {
        /* Nothing in flight on this node: its stream is handled up to the WAL end; and with no
         * rows of it in the batch, the slot may be told so at once. */
        if (!n->in_txn && e.wal_end > n->end_lsn) {
            n->end_lsn = e.wal_end;
            if (!n->b_rows && n->commit_lsn == n->ck_commit &&
                !(n->ck_partial && n->commit_lsn < n->ck_partial))
                n->ck_end = e.wal_end;
        }
        if (e.reply_requested) return stream_node_status(n, 0, err, errlen);
    }
    return 0;
}

/* A held row whose node has been passed: its message is handled now. */
static int stream_node_release(consumer *c, int k, char *err, size_t errlen)
{
    stream_node *n = &c->citus->node[k];
    stream_node *o = &c->citus->node[n->wait_node];
    if (!stream_node_passed(o, n->wait_lsn)) {
        int64_t now = util_mono_us();
        if (now - n->held_said_us >= STREAM_CITUS_HOLD_SAY_US) {
            stream_log(c, "node %s has waited %.0f s for node %s to pass a shard move", n->source,
                       (double)(now - n->held_since_us) / 1e6, o->source);
            n->held_said_us = now;
        }
        return 1;
    }
    uint8_t *held = n->held;
    size_t len = n->held_len;
    n->held = NULL;
    n->held_len = 0;
    int rc = stream_node_message(c, k, held, len, 1, err, errlen);
    free(held);
    n->wait_node = -1;
    return rc;
}

/* Reads what node k has now (up to a burst). Returns 0, or an error. *got counts messages. */
static int stream_node_read(consumer *c, int k, int *got, char *err, size_t errlen)
{
    stream_node *n = &c->citus->node[k];
    if (n->held) {
        int rc = stream_node_release(c, k, err, errlen);
        if (rc == 1) return 0;
        if (rc) return rc;
        (*got)++;
    }
    for (int i = 0; i < STREAM_CITUS_BURST; i++) {
        char *data = NULL;
        int len = PQgetCopyData(n->repl, &data, 1);
        if (len == 0) return 0;
        if (len == -1) return util_err(err, errlen, "node %s ended replication", n->source), PGCONN_LOST;
        if (len < 0) return stream_node_lost(n, n->repl, "reading", err, errlen);
        (*got)++;
        int rc = stream_node_envelope(c, k, (const uint8_t *)data, (size_t)len, err, errlen);
        if (rc == 1) {
            /* Held: keep the message itself (the envelope's 25-byte header stripped). */
            pgoutput_envelope e;
            char msg[64];
            pgoutput_read_envelope((const uint8_t *)data, (size_t)len, &e, msg, sizeof msg);
            n->held = xmalloc(e.data_len);
            memcpy(n->held, e.data, e.data_len);
            n->held_len = e.data_len;
            PQfreemem(data);
            return 0;
        }
        PQfreemem(data);
        if (rc) return rc;
        if ((int)c->nrows >= c->o->batch_rows) {
            if ((rc = stream_citus_commit(c, err, errlen))) return rc;
            stream_fault("citus-commit");
        }
    }
    return 0;
}

/* Has the cluster's node list changed since setup? */
static int stream_citus_nodes_changed(consumer *c, int *changed, char *err, size_t errlen)
{
    char sig[sizeof c->citus->nodes_sig];
    int rc = stream_citus_list(c, NULL, sig, sizeof sig, err, errlen);
    *changed = rc == 0 && strcmp(sig, c->citus->nodes_sig) != 0;
    return rc;
}

static int stream_citus_status_all(consumer *c, char *err, size_t errlen)
{
    stream_citus *cs = c->citus;
    for (int k = 0; k < cs->nnodes; k++) {
        int rc = stream_node_status(&cs->node[k], 0, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

int stream_citus_loop(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    stream_citus *cs = c->citus;
    int rc = 0;
    for (int k = 0; k < cs->nnodes && rc == 0; k++)
        rc = stream_node_start(c, &cs->node[k], err, errlen);
    if (rc) return rc;
    stream_log(c, "streaming from slot %s on %d nodes", c->slot, cs->nnodes);
    while (!*stop) {
        int got = 0;
        for (int k = 0; k < cs->nnodes; k++)
            if ((rc = stream_node_read(c, k, &got, err, errlen))) return rc;
        int64_t now = util_mono_us();
        if (c->nrows && stream_batch_due(c, now)) {
            if ((rc = stream_citus_commit(c, err, errlen))) return rc;
            if ((rc = stream_citus_status_all(c, err, errlen))) return rc;
            stream_print_status(c);
            continue;
        }
        if (got) continue;
        /* Every stream has paused. */
        int64_t idle_us =
            (int64_t)(c->o->batch_ms < STREAM_CITUS_IDLE_MS ? c->o->batch_ms : STREAM_CITUS_IDLE_MS) * 1000;
        if (c->batch_start_us && now - c->batch_start_us >= idle_us) {
            if ((rc = stream_citus_commit(c, err, errlen))) return rc;
            if ((rc = stream_citus_status_all(c, err, errlen))) return rc;
            stream_print_status(c);
            continue;
        }
        if (now - cs->last_nodes_us >= STREAM_CITUS_NODES_MS * 1000) {
            cs->last_nodes_us = now;
            int changed = 0;
            if ((rc = stream_citus_nodes_changed(c, &changed, err, errlen))) return rc;
            if (changed) {
                if (c->batch_start_us && (rc = stream_citus_commit(c, err, errlen))) return rc;
                return util_err(err, errlen, "the cluster's nodes changed: setting up again"),
                       PGCONN_LOST;
            }
        }
        /* Status: a node another waits on is asked for its WAL end often, an idle one every
         * second, every node at least every 10 s. */
        int waited[STREAM_CITUS_MAX_NODES] = {0};
        for (int k = 0; k < cs->nnodes; k++)
            if (cs->node[k].held) waited[cs->node[k].wait_node] = 1;
        struct pollfd pf[STREAM_CITUS_MAX_NODES];
        int64_t wait_ms = STREAM_CITUS_IDLE_ASK_MS;
        for (int k = 0; k < cs->nnodes; k++) {
            stream_node *n = &cs->node[k];
            int64_t since = now - n->last_status_us;
            int idle = !c->batch_start_us && !n->in_txn && !n->held;
            if (waited[k] && since >= STREAM_CITUS_ASK_MS * 1000)
                rc = stream_node_status(n, 1, err, errlen);
            else if (idle && since >= STREAM_CITUS_IDLE_ASK_MS * 1000)
                rc = stream_node_status(n, 1, err, errlen);
            else if (since >= STREAM_CITUS_STATUS_US)
                rc = stream_node_status(n, 0, err, errlen);
            if (rc) return rc;
            if (waited[k] && wait_ms > STREAM_CITUS_ASK_MS) wait_ms = STREAM_CITUS_ASK_MS;
            pf[k] = (struct pollfd){.fd = PQsocket(n->repl), .events = n->held ? 0 : POLLIN};
        }
        if (c->batch_start_us) {
            int64_t left = (c->batch_start_us + idle_us - now) / 1000 + 1;
            if (left < wait_ms) wait_ms = left < 1 ? 1 : left;
        }
        if (poll(pf, (nfds_t)cs->nnodes, (int)wait_ms) < 0 && errno != EINTR)
            return util_err(err, errlen, "poll: %s", strerror(errno)), PGCONN_LOST;
        for (int k = 0; k < cs->nnodes; k++)
            if (PQconsumeInput(cs->node[k].repl) == 0)
                return stream_node_lost(&cs->node[k], cs->node[k].repl, "reading", err, errlen);
    }
    /* Stopping: commit what was read (a node inside a transaction records its part). */
    if (c->batch_start_us && (rc = stream_citus_commit(c, err, errlen))) return rc;
    stream_citus_status_all(c, err, errlen);
    return 0;
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
