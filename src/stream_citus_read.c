/* stream_citus_read: a consumer on Citus at work — every node's stream read, a moved robot's
 * rows held until the node it left has passed the move, and the commit of the stage outputs with
 * every node's position (the design is in stream_citus.c). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"
#include "pgarray.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "stream_citus_int.h"
#include "util.h"

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
    if (n->ck_partial && n->commit_lsn < n->ck_partial &&
        !(n->in_txn && n->txn_lsn == n->ck_partial)) {
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
    pgarray src = {0}, com = {0}, end = {0}, par = {0}, prw = {0}, nrw = {0}, tim = {0};
    int64_t last_time = 0;
    for (int k = 0; k < cs->nnodes; k++) {
        stream_node *n = &cs->node[k];
        char lsn[32];
        pgarray_str(&src, n->source);
        pgoutput_lsn_format(n->commit_lsn, lsn, sizeof lsn);
        n->commit_lsn ? pgarray_str(&com, lsn) : pgarray_null(&com);
        pgoutput_lsn_format(n->end_lsn, lsn, sizeof lsn);
        n->end_lsn ? pgarray_str(&end, lsn) : pgarray_null(&end);
        uint64_t part_lsn;
        int64_t part = stream_node_part(n, &part_lsn);
        pgoutput_lsn_format(part_lsn, lsn, sizeof lsn);
        part ? pgarray_str(&par, lsn) : pgarray_null(&par);
        pgarray_int(&prw, part);
        pgarray_int(&nrw, n->b_rows);
        pgarray_float(&tim, (double)n->commit_time / 1e6);
        if (n->commit_time > last_time) last_time = n->commit_time;
    }
    pgarray *all[] = {&src, &com, &end, &par, &prw, &nrw, &tim};
    if (rc == 0) {
        const char *p[] = {c->o->consumer,    pgarray_end(&src), pgarray_end(&com),
                           pgarray_end(&end), pgarray_end(&par), pgarray_end(&prw),
                           pgarray_end(&nrw), pgarray_end(&tim)};
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
        pgarray_free(all[i]);
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
    if (PQstatus(n->repl) != CONNECTION_OK)
        return stream_node_lost(n, n->repl, "connecting", err, errlen);
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
        if (PQstatus(n->sql) != CONNECTION_OK)
            return stream_node_lost(n, n->sql, "connecting", err, errlen);
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
        return util_err(err, errlen, "node %s: undecodable replication message: %s", n->source,
                        msg);
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
                stream_log(c,
                           "robot %d moved from node %s to %s: holding %s until %s has passed it",
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
        if (len == -1)
            return util_err(err, errlen, "node %s ended replication", n->source), PGCONN_LOST;
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
        }
        /* Whether rows flow or not: a look at the nodes every few seconds (a node that joins
         * gets its slot before shards move there, also under load) ... */
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
        /* ... and status: a node another waits on is asked for its WAL end often (an idle one
         * sends it otherwise only every wal_sender_timeout / 2), an idle node every second,
         * every node at least every 10 s. */
        int waited[STREAM_CITUS_MAX_NODES] = {0};
        for (int k = 0; k < cs->nnodes; k++)
            if (cs->node[k].held) waited[cs->node[k].wait_node] = 1;
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
        }
        if (got) continue;
        /* Every stream has paused: a batch is committed soon, else wait for data. */
        int64_t idle_us = (int64_t)(c->o->batch_ms < STREAM_CITUS_IDLE_MS ? c->o->batch_ms
                                                                          : STREAM_CITUS_IDLE_MS) *
                          1000;
        if (c->batch_start_us && now - c->batch_start_us >= idle_us) {
            if ((rc = stream_citus_commit(c, err, errlen))) return rc;
            if ((rc = stream_citus_status_all(c, err, errlen))) return rc;
            stream_print_status(c);
            continue;
        }
        struct pollfd pf[STREAM_CITUS_MAX_NODES];
        int64_t wait_ms = STREAM_CITUS_IDLE_ASK_MS;
        for (int k = 0; k < cs->nnodes; k++) {
            if (waited[k] && wait_ms > STREAM_CITUS_ASK_MS) wait_ms = STREAM_CITUS_ASK_MS;
            pf[k] = (struct pollfd){.fd = PQsocket(cs->node[k].repl),
                                    .events = cs->node[k].held ? 0 : POLLIN};
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
