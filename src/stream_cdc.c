/* stream_cdc: reading through logical replication — the loop of pg_recvlogical (CopyData
 * messages decoded by pgoutput.c, keepalives answered, status updates at least every 10 s and
 * after every commit), batches committed with the position, and the ids of the transactions
 * applied (from pgoutput's Begin) so that a lost slot can be recovered from (stream_catchup.c). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "copybin.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "stream_int.h"
#include "util.h"

#define STREAM_STATUS_US (10 * 1000000) /* standby status update at least this often */
#define STREAM_IDLE_MS 20               /* commit a batch this soon once the stream pauses */
#define STREAM_STOP_ASK_MS 100          /* with a stop position: ask for the WAL end this often */
#define STREAM_IDLE_ASK_MS 1000         /* idle: ask for the WAL end (and confirm it) this often */

static int64_t stream_pg_now(void)
{
    return util_now_us() - COPYBIN_PG_EPOCH_US;
}

/* A standby status update; with reply, the server answers with a keepalive carrying its WAL
 * end (how a consumer with a stop position learns that the stream has passed it). */
static int stream_send_status(consumer *c, int reply, char *err, size_t errlen)
{
    buf b = {0};
    uint64_t written = c->received > c->ck.end_lsn ? c->received : c->ck.end_lsn;
    pgoutput_write_status(&b, written, c->ck.end_lsn, 0, stream_pg_now(), reply);
    int ok = PQputCopyData(c->repl, (const char *)b.data, (int)b.len) == 1 && PQflush(c->repl) == 0;
    buf_free(&b);
    c->last_status_us = util_mono_us();
    if (!ok)
        return util_err(err, errlen, "sending status: %s", PQerrorMessage(c->repl)), PGCONN_LOST;
    return 0;
}

int stream_relmap_read(stream_relmap *map, const pgoutput_msg *m, char *err, size_t errlen)
{
    if (strcmp(m->u.relation.relname, "reading") != 0) return 0; /* not ours */
    static const char *const names[2 + READING_AXES] = {
        "robot_id", "ts", "axis1", "axis2", "axis3", "axis4", "axis5", "axis6", "axis7", "axis8"};
    static const uint32_t types[2 + READING_AXES] = {23,  1184, 701, 701, 701,
                                                     701, 701,  701, 701, 701};
    for (int k = 0; k < 2 + READING_AXES; k++) {
        map->col[k] = -1;
        for (int i = 0; i < m->u.relation.ncols; i++)
            if (!strcmp(m->u.relation.cols[i].name, names[k])) {
                if (m->u.relation.cols[i].type_oid != types[k])
                    return util_err(err, errlen, "reading.%s has type oid %u, expected %u",
                                    names[k], m->u.relation.cols[i].type_oid, types[k]);
                map->col[k] = i;
            }
        if (map->col[k] < 0) return util_err(err, errlen, "reading has no column %s", names[k]);
    }
    map->relid = m->u.relation.relid;
    return 0;
}

int stream_relmap_row(const stream_relmap *map, const pgoutput_msg *m, reading *out, char *err,
                      size_t errlen)
{
    const pgoutput_tuple *t = &m->u.insert.newtup;
    const int *col = map->col;
    for (int k = 0; k < 2 + READING_AXES; k++) {
        if (col[k] >= t->ncols || t->cols[col[k]].kind != 'b' ||
            t->cols[col[k]].len != (k == 0 ? 4u : 8u))
            return util_err(err, errlen,
                            "insert into reading: column %d is not a binary value of "
                            "the expected size",
                            col[k]);
    }
    out->robot_id = (int32_t)copybin_get32(t->cols[col[0]].data);
    out->ts_us = (int64_t)copybin_get64(t->cols[col[1]].data) + COPYBIN_PG_EPOCH_US;
    for (int a = 0; a < READING_AXES; a++) {
        uint64_t u = copybin_get64(t->cols[col[2 + a]].data);
        memcpy(&out->axis[a], &u, sizeof u);
    }
    return 0;
}

static int stream_start_replication(consumer *c, char *err, size_t errlen)
{
    const char *kw[] = {"dbname", "replication", NULL};
    const char *val[] = {c->o->conninfo, "database", NULL};
    c->repl = PQconnectdbParams(kw, val, 1);
    if (PQstatus(c->repl) != CONNECTION_OK) {
        pgconn_result_error(NULL, c->repl, err, errlen);
        return PGCONN_LOST;
    }
    char start[32], cmd[512];
    pgoutput_lsn_format(c->ck.end_lsn, start, sizeof start);
    /* The names were checked (stream_register, reading_publication): safe as identifiers and
     * literals here, where the replication protocol takes no parameters. */
    snprintf(cmd, sizeof cmd,
             "START_REPLICATION SLOT \"%s\" LOGICAL %s (proto_version '1', publication_names "
             "'%s', binary 'true')",
             c->slot, start, c->pub);
    PGresult *r = PQexec(c->repl, cmd);
    if (PQresultStatus(r) != PGRES_COPY_BOTH) {
        pgconn_result_error(r, c->repl, err, errlen);
        /* 55000: the slot was invalidated; 42704: it is gone; 55006: a walsender that is
         * exiting still holds it. Setup, run again, tells them apart. */
        int again = pgconn_result_lost(c->repl, r) || pgconn_is_sqlstate(r, "55000") ||
                    pgconn_is_sqlstate(r, "42704") || pgconn_is_sqlstate(r, "55006");
        PQclear(r);
        return again ? PGCONN_LOST : -1;
    }
    PQclear(r);
    c->last_status_us = util_mono_us();
    return 0;
}

/* Handles one pgoutput message. */
static int stream_message(consumer *c, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    pgoutput_msg m;
    char msg[256];
    if (pgoutput_read(data, len, &m, msg, sizeof msg) != 0)
        return util_err(err, errlen, "undecodable replication message: %s", msg);
    switch (m.kind) {
    case 'B':
        if (c->o->stop_lsn && m.u.begin.final_lsn >= c->o->stop_lsn) {
            c->stopped = 1; /* it commits at or past the stop: left to whoever takes over */
            return 0;
        }
        c->in_txn = 1;
        c->txn_lsn = m.u.begin.final_lsn;
        c->txn_xid = m.u.begin.xid;
        c->txn_rows = 0;
        c->txn_skip = 0;
        c->txn_first = c->nrows;
        if (c->ck.commit_lsn && m.u.begin.final_lsn <= c->ck.commit_lsn)
            c->txn_skip = -1; /* applied before a restart */
        else if (c->ck.partial_lsn && m.u.begin.final_lsn == c->ck.partial_lsn)
            c->txn_skip = c->ck.partial_rows;
        return 0;
    case 'R':
        return stream_relmap_read(&c->map, &m, err, errlen);
    case 'I': {
        if (m.u.insert.relid != c->map.relid || c->txn_skip < 0) return 0;
        if (++c->txn_rows <= c->txn_skip) return 0;
        reading r;
        if (stream_relmap_row(&c->map, &m, &r, err, errlen) != 0) return -1;
        stream_add_row(c, &r);
        /* A huge transaction is committed in parts, each remembered as (lsn, rows) and, for a
         * lost slot, as the rows applied per robot. */
        if ((int)c->nrows >= c->o->batch_rows) {
            int rc = stream_commit(c, STREAM_STEP_PARTIAL, 0, err, errlen);
            if (rc == 0) stream_fault("partial-commit");
            return rc;
        }
        return 0;
    }
    case 'C': {
        c->in_txn = 0;
        if (c->txn_skip < 0) return 0;
        c->b_commit_lsn = m.u.commit.commit_lsn;
        c->b_end_lsn = m.u.commit.end_lsn;
        c->b_commit_time = m.u.commit.commit_time + COPYBIN_PG_EPOCH_US;
        uint64_t xid = stream_widen_xid(c, c->txn_xid);
        if (!c->ck.has_covered || !xidset_snap_ended(&c->ck.covered, xid))
            xidset_list_add(&c->b_xids, xid);
        if (c->nrows == 0) {
            /* Rows all skipped: only the position moves. */
            c->batch_start_us = util_mono_us();
        }
        /* While rows keep flowing: commit every batch_ms (longer while commits are slow), or
         * batch_rows. */
        if ((int)c->nrows >= c->o->batch_rows || stream_batch_due(c, util_mono_us())) {
            int rc = stream_commit(c, STREAM_STEP_CDC, 0, err, errlen);
            return rc ? rc : stream_send_status(c, 0, err, errlen);
        }
        return 0;
    }
    case 'T':
        stream_log(c, "note: reading was truncated; stages keep what they have");
        return 0;
    default:
        return 0; /* Origin, Type, Message, Update, Delete: nothing to do */
    }
}

/* With a stop position: the checkpoint stands at or past it (nothing in part, and the stream
 * handled up to it, or a transaction at or past it applied already). */
static int stream_at_stop(const consumer *c)
{
    uint64_t s = c->o->stop_lsn;
    if (c->ck.commit_lsn >= s || c->ck.partial_lsn >= s) return 1;
    return !c->ck.partial_lsn && c->ck.end_lsn >= s;
}

/* The stream has passed the stop position with nothing at or past it applied: commits the batch
 * and the position (end_lsn at or past stop_lsn) and ends the stream. */
static int stream_stop_here(consumer *c, char *err, size_t errlen)
{
    if (c->ck.end_lsn < c->o->stop_lsn) c->ck.end_lsn = c->o->stop_lsn;
    if (c->b_commit_lsn && c->b_end_lsn < c->o->stop_lsn) c->b_end_lsn = c->o->stop_lsn;
    int rc = stream_commit(c, STREAM_STEP_CDC, 0, err, errlen);
    if (rc) return rc;
    stream_send_status(c, 0, err, errlen);
    char at[32];
    pgoutput_lsn_format(c->o->stop_lsn, at, sizeof at);
    stream_log(c, "stopped at %s, its stop position (%lld rows in all)", at, (long long)c->ck.rows);
    return 0;
}

int stream_cdc_loop(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    c->stopped = 0;
    if (c->o->stop_lsn && stream_at_stop(c)) return 0;
    int rc = stream_start_replication(c, err, errlen);
    if (rc) return rc;
    stream_log(c, "streaming from slot %s", c->slot);
    while (!*stop) {
        if (c->stopped) return stream_stop_here(c, err, errlen);
        char *data = NULL;
        int n = PQgetCopyData(c->repl, &data, 1);
        if (n == 0) {
            /* Nothing to read now: the stream has paused, so a batch need not wait for more
             * rows (only a little, so that a consumer that reads faster than the server sends
             * does not commit every few rows). Then a due status, then wait. */
            int64_t now = util_mono_us();
            int64_t idle_us =
                (int64_t)(c->o->batch_ms < STREAM_IDLE_MS ? c->o->batch_ms : STREAM_IDLE_MS) * 1000;
            if (c->batch_start_us && !c->in_txn && now - c->batch_start_us >= idle_us) {
                if ((rc = stream_commit(c, STREAM_STEP_CDC, 0, err, errlen))) return rc;
                if ((rc = stream_send_status(c, 0, err, errlen))) return rc;
                stream_print_status(c);
                continue;
            }
            /* Idle, with ids listed and a snapshot the stream has passed: one commit without
             * rows makes it the covered one and empties the list (and then no more such
             * commits follow, whatever WAL the consumer's own commits add). */
            if (!c->batch_start_us && !c->in_txn && c->ck.napplied > 0 && stream_pending_due(c)) {
                if ((rc = stream_commit(c, STREAM_STEP_CDC, 0, err, errlen))) return rc;
                if ((rc = stream_send_status(c, 0, err, errlen))) return rc;
                continue;
            }
            /* Idle: ask for the server's WAL end every second, so that the position confirmed
             * to the slot follows the WAL that holds nothing for this consumer (its own
             * commits, other tables) and its lag reads 0 within a second or two, not up to
             * wal_sender_timeout / 2 after the last row. */
            int idle = !c->batch_start_us && !c->in_txn;
            if (idle && now - c->last_status_us >= STREAM_IDLE_ASK_MS * 1000) {
                if ((rc = stream_send_status(c, 1, err, errlen))) return rc;
            } else if (now - c->last_status_us >= STREAM_STATUS_US &&
                       (rc = stream_send_status(c, 0, err, errlen))) {
                return rc;
            }
            int64_t wait_ms = STREAM_IDLE_ASK_MS;
            if (c->o->stop_lsn) {
                /* Idle short of the stop: the server's WAL end says when nothing below it is
                 * left (a keepalive otherwise comes only every wal_sender_timeout / 2). */
                if (!c->batch_start_us && !c->in_txn &&
                    now - c->last_status_us >= STREAM_STOP_ASK_MS * 1000 &&
                    (rc = stream_send_status(c, 1, err, errlen)))
                    return rc;
                wait_ms = STREAM_STOP_ASK_MS;
            }
            if (c->batch_start_us) {
                wait_ms = (c->batch_start_us + idle_us - now) / 1000 + 1;
                if (wait_ms < 1) wait_ms = 1;
            }
            struct pollfd p = {.fd = PQsocket(c->repl), .events = POLLIN};
            if (poll(&p, 1, (int)wait_ms) < 0 && errno != EINTR)
                return util_err(err, errlen, "poll: %s", strerror(errno)), PGCONN_LOST;
            if (PQconsumeInput(c->repl) == 0) {
                util_err(err, errlen, "%s", PQerrorMessage(c->repl));
                return PGCONN_LOST;
            }
            continue;
        }
        if (n == -1) return util_err(err, errlen, "the server ended replication"), PGCONN_LOST;
        if (n == -2) {
            util_err(err, errlen, "%s", PQerrorMessage(c->repl));
            return PGCONN_LOST;
        }
        pgoutput_envelope e;
        char msg[256];
        rc = pgoutput_read_envelope((const uint8_t *)data, (size_t)n, &e, msg, sizeof msg);
        if (rc == 0 && e.kind == 'w') {
            if (e.wal_end > c->received) c->received = e.wal_end;
            rc = stream_message(c, e.data, e.data_len, err, errlen);
        } else if (rc == 0 && e.kind == 'k') {
            if (e.wal_end > c->received) c->received = e.wal_end;
            /* Nothing in flight: everything up to the server's WAL end is handled. */
            if (!c->in_txn && !c->batch_start_us && e.wal_end > c->ck.end_lsn)
                c->ck.end_lsn = e.wal_end;
            /* Every transaction that commits below the WAL end has been sent. */
            if (c->o->stop_lsn && !c->in_txn && e.wal_end >= c->o->stop_lsn) c->stopped = 1;
            if (e.reply_requested) rc = stream_send_status(c, 0, err, errlen);
        } else if (rc) {
            util_err(err, errlen, "replication: %s", msg);
        }
        PQfreemem(data);
        if (rc) return rc;
    }
    /* Stopping: commit what is complete, tell the server, end the stream. */
    if (c->batch_start_us && !c->in_txn && (rc = stream_commit(c, STREAM_STEP_CDC, 0, err, errlen)))
        return rc;
    stream_send_status(c, 0, err, errlen);
    return 0;
}
