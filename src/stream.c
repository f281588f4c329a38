/* stream: a consumer — setup (publication, slot, checkpoint), the replication and polling
 * loops, and the transaction that commits stage outputs with the position (see stream.h). */
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "util.h"

#define STREAM_STATUS_US (10 * 1000000)  /* standby status update at least this often */
#define STREAM_MAX_BACKOFF_MS 5000
#define STREAM_IDLE_MS 20                /* commit a batch this soon once the stream pauses */

typedef struct stream_state_blob {
    uint8_t *data;
    size_t len;
} stream_state_blob;

/* A consumer's working state between reconnections. */
typedef struct consumer {
    const stream_opts *o;
    stream_ctx ctx;
    char slot[128];                 /* slot and publication name */
    PGconn *db;                     /* outputs, checkpoint */
    PGconn *repl;                   /* replication (cdc) */
    void **stages;                  /* open stages */
    /* Position. */
    uint64_t commit_lsn;            /* last transaction applied in full */
    uint64_t end_lsn;               /* its end: what the slot is told is flushed */
    uint64_t partial_lsn;           /* a transaction applied in part, and how far */
    int64_t partial_rows;
    int64_t poll_xid;               /* poll: every transaction below is applied */
    int64_t total_rows;
    int64_t last_commit;            /* commit time (µs since 1970) of the last applied */
    /* The batch being gathered. */
    reading *rows;
    size_t nrows, rows_cap;
    int64_t fed_rows;               /* rows given to the stages early (poll), not yet committed */
    int64_t batch_start_us;         /* monotonic time of its first row, 0 if empty */
    uint64_t b_commit_lsn, b_end_lsn; /* last transaction completed in the batch (0: none) */
    int64_t b_commit_time;
    /* The transaction being decoded. */
    int in_txn;
    uint64_t txn_lsn;               /* its commit LSN (Begin's final_lsn) */
    int64_t txn_rows;               /* its rows seen so far */
    int64_t txn_skip;               /* rows to skip (applied before a restart), -1: all */
    /* The relation map of reading in the replication stream. */
    uint32_t relid;
    int col[2 + READING_AXES];      /* tuple index of robot_id, ts, axis1..8 */
    /* Feedback. */
    uint64_t received;              /* highest WAL position received */
    int64_t last_status_us;
    int64_t last_print_us;
    int64_t printed_rows;
} consumer;

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

void stream_slot_name(const char *consumer_name, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "pgpulse_");
    for (const char *p = consumer_name; *p && o + 1 < len; p++)
        out[o++] = (*p == '+' || *p == '.') ? '_' : *p;
    out[o] = '\0';
}

/* ---------------------------------------------------------------------------------------- */
/* Setup */

static void stream_log(const consumer *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void stream_log(const consumer *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pgpulse %s: ", c->o->consumer);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Registers the consumer, its publication and slot (cdc), and its checkpoint row. */
static int stream_setup(consumer *c, char *err, size_t errlen)
{
    const stream_opts *o = c->o;
    char shard[16], shards[16];
    snprintf(shard, sizeof shard, "%d", o->shard);
    snprintf(shards, sizeof shards, "%d", o->shards);
    buf stages = {0};
    buf_puts(&stages, "{");
    for (int i = 0; i < o->nstages; i++) buf_printf(&stages, "%s%s", i ? "," : "", o->stages[i]->name);
    buf_append(&stages, "}", 2);
    const char *kind = o->poll ? "poll" : "cdc";
    const char *p1[] = {o->consumer, (const char *)stages.data, kind, c->slot, shard, shards};
    PGresult *r = NULL;
    int rc = pgconn_query(c->db,
                      "INSERT INTO stream_consumer (consumer, stages, source_kind, slot_name, "
                      "publication, shard, shards) VALUES ($1, $2, $3, CASE WHEN $3 = 'cdc' THEN "
                      "$4 END, CASE WHEN $3 = 'cdc' THEN $4 END, $5, $6) "
                      "ON CONFLICT (consumer) DO UPDATE SET stages = EXCLUDED.stages "
                      "RETURNING source_kind, shard, shards",
                      6, p1, PGRES_TUPLES_OK, &r, err, errlen);
    buf_free(&stages);
    if (rc) return rc;
    int same = !strcmp(PQgetvalue(r, 0, 0), kind) && atoi(PQgetvalue(r, 0, 1)) == o->shard &&
               atoi(PQgetvalue(r, 0, 2)) == o->shards;
    if (!same) {
        util_err(err, errlen,
                 "consumer '%s' exists reading by %s as shard %s/%s; drop it first (pgpulse slots "
                 "drop %s) to change how it reads",
                 o->consumer, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                 o->consumer);
        PQclear(r);
        return -1;
    }
    PQclear(r);

    /* The checkpoint row (a new consumer starts at the current end of the stream). */
    const char *p2[] = {o->consumer, STREAM_SOURCE_LOCAL};
    rc = pgconn_query(c->db,
                  "INSERT INTO stream_checkpoint (consumer, source, poll_xid) VALUES ($1, $2, "
                  "txid_snapshot_xmin(txid_current_snapshot())) ON CONFLICT DO NOTHING",
                  2, p2, PGRES_COMMAND_OK, NULL, err, errlen);
    if (rc) return rc;
    rc = pgconn_query(c->db,
                  "SELECT commit_lsn::text, end_lsn::text, partial_lsn::text, partial_rows, "
                  "poll_xid, rows FROM stream_checkpoint WHERE consumer = $1 AND source = $2",
                  2, p2, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    c->commit_lsn = c->end_lsn = c->partial_lsn = 0;
    if (!PQgetisnull(r, 0, 0)) pgoutput_lsn_parse(PQgetvalue(r, 0, 0), &c->commit_lsn);
    if (!PQgetisnull(r, 0, 1)) pgoutput_lsn_parse(PQgetvalue(r, 0, 1), &c->end_lsn);
    if (!PQgetisnull(r, 0, 2)) pgoutput_lsn_parse(PQgetvalue(r, 0, 2), &c->partial_lsn);
    c->partial_rows = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    c->poll_xid = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    c->total_rows = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    PQclear(r);
    if (o->poll) return 0;

    /* Publication: inserts into reading (as the partitioned table), the shard's robots only. */
    const char *p3[] = {c->slot, shard, shards};
    rc = pgconn_query(c->db, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, p3,
                  PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    int have_pub = PQntuples(r) == 1;
    PQclear(r);
    if (!have_pub) {
        rc = pgconn_query(c->db,
                      "SELECT format('CREATE PUBLICATION %I FOR TABLE reading %s WITH (publish = "
                      "''insert'', publish_via_partition_root = true)', $1::text, CASE WHEN "
                      "$3::int > 1 THEN format('WHERE (robot_id %% %s = %s)', $3::int, $2::int) "
                      "ELSE '' END)",
                      3, p3, PGRES_TUPLES_OK, &r, err, errlen);
        if (rc) return rc;
        PGresult *x = PQexec(c->db, PQgetvalue(r, 0, 0));
        PQclear(r);
        /* 42710: another worker created it a moment ago. */
        if (PQresultStatus(x) != PGRES_COMMAND_OK && !pgconn_is_sqlstate(x, "42710")) {
            pgconn_result_error(x, c->db, err, errlen);
            PQclear(x);
            return -1;
        }
        PQclear(x);
    }
    /* Slot: created once; if it is gone while a checkpoint exists, rows were lost to it. */
    rc = pgconn_query(c->db, "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", 1, p3,
                  PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    int have_slot = PQntuples(r) == 1;
    PQclear(r);
    if (!have_slot) {
        if (c->end_lsn || c->partial_lsn) {
            char at[32];
            pgoutput_lsn_format(c->end_lsn ? c->end_lsn : c->partial_lsn, at, sizeof at);
            return util_err(err, errlen,
                            "the replication slot %s of consumer '%s' was dropped (its checkpoint "
                            "is at %s): rows committed since then were not kept for it. `pgpulse "
                            "slots drop %s` removes the consumer so that it starts afresh",
                            c->slot, o->consumer, at, o->consumer);
        }
        stream_log(c, "creating replication slot %s", c->slot);
        rc = pgconn_query(c->db, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", 1, p3,
                      PGRES_TUPLES_OK, NULL, err, errlen);
        if (rc && !strstr(err, "already exists")) return rc;
    }
    return 0;
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
        if (!c->stages[i])
            return util_err(err, errlen, "stage %s: %s", o->stages[i]->name, msg);
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
    if (c->repl) PQfinish(c->repl);
    if (c->db) PQfinish(c->db);
    c->repl = c->db = NULL;
    c->nrows = 0;
    c->batch_start_us = 0;
    c->b_commit_lsn = c->b_end_lsn = 0;
    c->in_txn = 0;
    c->relid = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Commit: stage outputs, stage states and the position in one transaction. */

static void stream_add_row(consumer *c, const reading *r)
{
    if (c->nrows == c->rows_cap) {
        c->rows_cap = c->rows_cap ? c->rows_cap * 2 : 4096;
        c->rows = xrealloc(c->rows, sizeof *c->rows * c->rows_cap);
    }
    if (!c->nrows) c->batch_start_us = util_mono_us();
    c->rows[c->nrows++] = *r;
}

/* Commits the batch. For cdc, partial says the batch ends inside the current transaction
 * (txn_lsn, txn_rows applied). For poll, poll_hi is the new poll position. */
static int stream_commit(consumer *c, int partial, int64_t poll_hi, char *err, size_t errlen)
{
    const stream_opts *o = c->o;
    for (int i = 0; i < o->nstages; i++) o->stages[i]->rows(c->stages[i], c->rows, c->nrows);
    int rc = 0;
    buf state = {0};
    rc = pgconn_exec(c->db, "BEGIN", err, errlen);
    if (rc) goto done;
    for (int i = 0; i < o->nstages && rc == 0; i++) {
        buf_reset(&state);
        char msg[512];
        if (o->stages[i]->commit(c->stages[i], c->db, &state, msg, sizeof msg) != 0) {
            rc = pgconn_is_lost(c->db) ? PGCONN_LOST : -1;
            util_err(err, errlen, "stage %s: %s", o->stages[i]->name, msg);
            break;
        }
        char n[24];
        snprintf(n, sizeof n, "%lld", (long long)((int64_t)c->nrows + c->fed_rows));
        const char *p[] = {o->consumer, o->stages[i]->name, (const char *)state.data, n};
        int lens[] = {0, 0, (int)state.len, 0};
        int fmts[] = {0, 0, 1, 0};
        PGresult *r = PQexecParams(c->db,
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
    if (rc) goto done;

    /* The position after this batch. */
    uint64_t commit_lsn = c->commit_lsn, end_lsn = c->end_lsn, partial_lsn = 0;
    int64_t partial_rows = 0;
    if (c->b_commit_lsn) {
        commit_lsn = c->b_commit_lsn;
        end_lsn = c->b_end_lsn;
    }
    if (partial) {
        partial_lsn = c->txn_lsn;
        partial_rows = c->txn_rows;
    }
    char s_commit[32], s_end[32], s_partial[32], s_prows[24], s_n[24], s_poll[24], s_time[40];
    pgoutput_lsn_format(commit_lsn, s_commit, sizeof s_commit);
    pgoutput_lsn_format(end_lsn, s_end, sizeof s_end);
    pgoutput_lsn_format(partial_lsn, s_partial, sizeof s_partial);
    snprintf(s_prows, sizeof s_prows, "%lld", (long long)partial_rows);
    int64_t batch_rows = (int64_t)c->nrows + c->fed_rows;
    snprintf(s_n, sizeof s_n, "%lld", (long long)batch_rows);
    snprintf(s_poll, sizeof s_poll, "%lld", (long long)poll_hi);
    int64_t ctime = c->b_commit_lsn ? c->b_commit_time : c->last_commit;
    snprintf(s_time, sizeof s_time, "%.6f", (double)ctime / 1e6);
    const char *p[] = {o->consumer, STREAM_SOURCE_LOCAL, commit_lsn ? s_commit : NULL,
                       end_lsn ? s_end : NULL, partial ? s_partial : NULL, s_prows, s_n,
                       o->poll ? s_poll : NULL, ctime ? s_time : NULL};
    rc = pgconn_query(c->db,
                  "UPDATE stream_checkpoint SET commit_lsn = $3, end_lsn = $4, partial_lsn = $5, "
                  "partial_rows = $6, rows = rows + $7, poll_xid = coalesce($8, poll_xid), "
                  "last_commit = coalesce(to_timestamp($9::float8), last_commit), updated_at = now() "
                  "WHERE consumer = $1 AND source = $2",
                  9, p, PGRES_COMMAND_OK, NULL, err, errlen);
    if (rc) goto done;
    rc = pgconn_exec(c->db, "COMMIT", err, errlen);
    if (rc) goto done;
    c->commit_lsn = commit_lsn;
    c->end_lsn = end_lsn;
    c->partial_lsn = partial_lsn;
    c->partial_rows = partial_rows;
    c->total_rows += batch_rows;
    c->last_commit = ctime;
    c->fed_rows = 0;
    if (o->poll) c->poll_xid = poll_hi;
    c->nrows = 0;
    c->batch_start_us = 0;
    c->b_commit_lsn = c->b_end_lsn = 0;
done:
    buf_free(&state);
    if (rc) PQclear(PQexec(c->db, "ROLLBACK"));
    return rc;
}

static void stream_print_status(consumer *c)
{
    int64_t now = util_mono_us();
    if (!c->o->status_s || now - c->last_print_us < (int64_t)c->o->status_s * 1000000) return;
    char at[40];
    if (c->o->poll)
        snprintf(at, sizeof at, "transaction %lld", (long long)c->poll_xid);
    else
        pgoutput_lsn_format(c->end_lsn, at, sizeof at);
    double secs = c->last_print_us ? (double)(now - c->last_print_us) / 1e6 : 0;
    stream_log(c, "%lld rows (%.0f rows/s), position %s", (long long)c->total_rows,
               secs > 0 ? (double)(c->total_rows - c->printed_rows) / secs : 0, at);
    c->last_print_us = now;
    c->printed_rows = c->total_rows;
}

/* ---------------------------------------------------------------------------------------- */
/* Logical replication */

static int64_t stream_pg_now(void)
{
    return util_now_us() - COPYBIN_PG_EPOCH_US;
}

static int stream_send_status(consumer *c, int reply, char *err, size_t errlen)
{
    buf b = {0};
    uint64_t written = c->received > c->end_lsn ? c->received : c->end_lsn;
    pgoutput_write_status(&b, written, c->end_lsn, 0, stream_pg_now(), reply);
    int ok = PQputCopyData(c->repl, (const char *)b.data, (int)b.len) == 1 && PQflush(c->repl) == 0;
    buf_free(&b);
    c->last_status_us = util_mono_us();
    if (!ok) return util_err(err, errlen, "sending status: %s", PQerrorMessage(c->repl)), PGCONN_LOST;
    return 0;
}

/* Maps reading's columns from a Relation message. */
static int stream_relation(consumer *c, const pgoutput_msg *m, char *err, size_t errlen)
{
    if (strcmp(m->u.relation.relname, "reading") != 0) return 0; /* not ours */
    static const char *const names[2 + READING_AXES] = {"robot_id", "ts", "axis1", "axis2", "axis3",
                                                        "axis4", "axis5", "axis6", "axis7", "axis8"};
    static const uint32_t types[2 + READING_AXES] = {23, 1184, 701, 701, 701, 701, 701, 701, 701, 701};
    for (int k = 0; k < 2 + READING_AXES; k++) {
        c->col[k] = -1;
        for (int i = 0; i < m->u.relation.ncols; i++)
            if (!strcmp(m->u.relation.cols[i].name, names[k])) {
                if (m->u.relation.cols[i].type_oid != types[k])
                    return util_err(err, errlen, "reading.%s has type oid %u, expected %u",
                                    names[k], m->u.relation.cols[i].type_oid, types[k]);
                c->col[k] = i;
            }
        if (c->col[k] < 0) return util_err(err, errlen, "reading has no column %s", names[k]);
    }
    c->relid = m->u.relation.relid;
    return 0;
}

/* Decodes an Insert into reading. */
static int stream_insert(consumer *c, const pgoutput_msg *m, reading *out, char *err, size_t errlen)
{
    const pgoutput_tuple *t = &m->u.insert.newtup;
    for (int k = 0; k < 2 + READING_AXES; k++) {
        const pgoutput_value *v = &t->cols[c->col[k]];
        if (c->col[k] >= t->ncols || v->kind != 'b' ||
            v->len != (k == 0 ? 4u : 8u))
            return util_err(err, errlen, "insert into reading: column %d is not a binary value of "
                            "the expected size", c->col[k]);
    }
    out->robot_id = (int32_t)copybin_get32(t->cols[c->col[0]].data);
    out->ts_us = (int64_t)copybin_get64(t->cols[c->col[1]].data) + COPYBIN_PG_EPOCH_US;
    for (int a = 0; a < READING_AXES; a++) {
        uint64_t u = copybin_get64(t->cols[c->col[2 + a]].data);
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
    pgoutput_lsn_format(c->end_lsn, start, sizeof start);
    /* The names were checked (stream_check_name): safe as identifiers and literals here, where
     * the replication protocol takes no parameters. */
    snprintf(cmd, sizeof cmd,
             "START_REPLICATION SLOT \"%s\" LOGICAL %s (proto_version '1', publication_names "
             "'%s', binary 'true')",
             c->slot, start, c->slot);
    PGresult *r = PQexec(c->repl, cmd);
    if (PQresultStatus(r) != PGRES_COPY_BOTH) {
        pgconn_result_error(r, c->repl, err, errlen);
        int lost = pgconn_result_lost(c->repl, r);
        PQclear(r);
        return lost ? PGCONN_LOST : -1;
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
        c->in_txn = 1;
        c->txn_lsn = m.u.begin.final_lsn;
        c->txn_rows = 0;
        c->txn_skip = 0;
        if (c->commit_lsn && m.u.begin.final_lsn <= c->commit_lsn)
            c->txn_skip = -1; /* applied before a restart */
        else if (c->partial_lsn && m.u.begin.final_lsn == c->partial_lsn)
            c->txn_skip = c->partial_rows;
        return 0;
    case 'R': return stream_relation(c, &m, err, errlen);
    case 'I': {
        if (m.u.insert.relid != c->relid || c->txn_skip < 0) return 0;
        if (++c->txn_rows <= c->txn_skip) return 0;
        reading r;
        if (stream_insert(c, &m, &r, err, errlen) != 0) return -1;
        stream_add_row(c, &r);
        /* A huge transaction is committed in parts, each remembered as (lsn, rows). */
        if ((int)c->nrows >= c->o->batch_rows) return stream_commit(c, 1, 0, err, errlen);
        return 0;
    }
    case 'C':
        c->in_txn = 0;
        if (c->txn_skip < 0) return 0;
        c->b_commit_lsn = m.u.commit.commit_lsn;
        c->b_end_lsn = m.u.commit.end_lsn;
        c->b_commit_time = m.u.commit.commit_time + COPYBIN_PG_EPOCH_US;
        c->partial_lsn = 0; /* the transaction is complete in this batch */
        if (c->nrows == 0) {
            /* Rows all skipped: only the position moves. */
            c->batch_start_us = util_mono_us();
        }
        /* While rows keep flowing: commit every batch_ms, or batch_rows. */
        if ((int)c->nrows >= c->o->batch_rows ||
            util_mono_us() - c->batch_start_us >= (int64_t)c->o->batch_ms * 1000) {
            int rc = stream_commit(c, 0, 0, err, errlen);
            return rc ? rc : stream_send_status(c, 0, err, errlen);
        }
        return 0;
    case 'T':
        stream_log(c, "note: reading was truncated; stages keep what they have");
        return 0;
    default: return 0; /* Origin, Type, Message, Update, Delete: nothing to do */
    }
}

/* The replication loop: returns 0 when *stop is set, else an error (PGCONN_LOST to retry). */
static int stream_cdc_loop(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    int rc = stream_start_replication(c, err, errlen);
    if (rc) return rc;
    stream_log(c, "streaming from slot %s", c->slot);
    while (!*stop) {
        char *data = NULL;
        int n = PQgetCopyData(c->repl, &data, 1);
        if (n == 0) {
            /* Nothing to read now: the stream has paused, so a batch need not wait for more
             * rows (only a little, so that a consumer that reads faster than the server sends
             * does not commit every few rows). Then a due status, then wait. */
            int64_t now = util_mono_us();
            int64_t idle_us = (int64_t)(c->o->batch_ms < STREAM_IDLE_MS ? c->o->batch_ms
                                                                        : STREAM_IDLE_MS) * 1000;
            if (c->batch_start_us && !c->in_txn && now - c->batch_start_us >= idle_us) {
                if ((rc = stream_commit(c, 0, 0, err, errlen))) return rc;
                if ((rc = stream_send_status(c, 0, err, errlen))) return rc;
                stream_print_status(c);
                continue;
            }
            if (now - c->last_status_us >= STREAM_STATUS_US &&
                (rc = stream_send_status(c, 0, err, errlen)))
                return rc;
            int64_t wait_ms = 1000;
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
            if (!c->in_txn && !c->batch_start_us && e.wal_end > c->end_lsn) c->end_lsn = e.wal_end;
            if (e.reply_requested) rc = stream_send_status(c, 0, err, errlen);
        } else if (rc) {
            util_err(err, errlen, "replication: %s", msg);
        }
        PQfreemem(data);
        if (rc) return rc;
    }
    /* Stopping: commit what is complete, tell the server, end the stream. */
    if (c->batch_start_us && !c->in_txn && (rc = stream_commit(c, 0, 0, err, errlen))) return rc;
    stream_send_status(c, 0, err, errlen);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Polling */

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
    if (hi <= c->poll_xid) {
        PQclear(PQexec(c->db, "ROLLBACK"));
        return 0;
    }
    /* Every transaction below hi has ended: its rows, if it committed, are all visible in this
     * snapshot, and none can appear later. Rows of transactions from hi on wait for a later
     * poll, whatever order they commit in. */
    char lo[24], hs[24], shard[16], shards[16];
    snprintf(lo, sizeof lo, "%lld", (long long)c->poll_xid);
    snprintf(hs, sizeof hs, "%lld", (long long)hi);
    snprintf(shard, sizeof shard, "%d", c->o->shard);
    snprintf(shards, sizeof shards, "%d", c->o->shards);
    const char *p[] = {lo, hs, shards, shard};
    rc = pgconn_query(c->db,
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
        for (int i = 0; i < n; i++) {
            reading rd;
            rd.robot_id = (int32_t)copybin_get32((const uint8_t *)PQgetvalue(r, i, 0));
            rd.ts_us = (int64_t)copybin_get64((const uint8_t *)PQgetvalue(r, i, 1)) + COPYBIN_PG_EPOCH_US;
            for (int a = 0; a < READING_AXES; a++) {
                uint64_t u = copybin_get64((const uint8_t *)PQgetvalue(r, i, 2 + a));
                memcpy(&rd.axis[a], &u, sizeof u);
            }
            stream_add_row(c, &rd);
        }
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
    return stream_commit(c, 0, hi, err, errlen);
fail:
    PQclear(PQexec(c->db, "ROLLBACK"));
    return rc;
}

static int stream_poll_loop(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
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

/* ---------------------------------------------------------------------------------------- */

int stream_run(const stream_opts *o, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    if (stream_check_name(o->consumer, err, errlen)) return -1;
    if (o->shards < 1 || o->shard < 0 || o->shard >= o->shards)
        return util_err(err, errlen, "shard %d/%d: expected 0 <= shard < shards", o->shard, o->shards);
    consumer c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.ctx = (stream_ctx){o->consumer, o->shard, o->shards};
    stream_slot_name(o->consumer, c.slot, sizeof c.slot);
    int delay_ms = 100;
    int rc = 0;
    while (!*stop) {
        int64_t attempt = util_mono_us();
        c.db = pgconn_connect(o->conninfo, o->consumer, err, errlen);
        rc = c.db ? stream_setup(&c, err, errlen) : PGCONN_LOST;
        if (rc == 0) rc = stream_open_stages(&c, err, errlen);
        if (rc == 0) rc = o->poll ? stream_poll_loop(&c, stop, err, errlen)
                                  : stream_cdc_loop(&c, stop, err, errlen);
        stream_close(&c);
        c.fed_rows = 0;
        if (rc != PGCONN_LOST) break; /* stopped, or an error retrying cannot fix */
        if (util_mono_us() - attempt > 10000000) delay_ms = 100; /* it had been working */
        stream_log(&c, "%s; reconnecting in %d ms", err, delay_ms);
        util_sleep_ms(delay_ms);
        delay_ms = delay_ms * 2 > STREAM_MAX_BACKOFF_MS ? STREAM_MAX_BACKOFF_MS : delay_ms * 2;
        rc = 0;
    }
    free(c.rows);
    return rc ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Administration */

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
        "THEN 0 ELSE round(extract(epoch FROM now() - coalesce(k.last_commit, k.updated_at))::numeric, 3) "
        "END, round(extract(epoch FROM now() - k.updated_at)::numeric, 3), "
        "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = 'pgpulse-' || "
        "c.consumer), c.slot_name, CASE WHEN c.source_kind = 'cdc' THEN coalesce(s.wal_status, "
        "'missing') END, array_to_string(c.stages, ',') "
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

int stream_drop(PGconn *conn, const char *consumer_name, char *err, size_t errlen)
{
    const char *p[] = {consumer_name};
    PGresult *r = NULL;
    int rc;
    /* A consumer that has just stopped may still hold its slot for a moment (its walsender is
     * exiting): give it 3 s. */
    for (int tries = 0;; tries++) {
        rc = pgconn_query(conn,
                      "SELECT c.slot_name, c.publication, s.active_pid FROM stream_consumer c LEFT "
                      "JOIN pg_replication_slots s ON s.slot_name = c.slot_name WHERE c.consumer = $1",
                      1, p, PGRES_TUPLES_OK, &r, err, errlen);
        if (rc) return -1;
        if (tries == 30 || PQntuples(r) == 0 || PQgetisnull(r, 0, 2)) break;
        PQclear(r);
        util_sleep_ms(100);
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return util_err(err, errlen, "no consumer named '%s' (pgpulse status lists them)",
                        consumer_name);
    }
    if (!PQgetisnull(r, 0, 2)) {
        util_err(err, errlen, "consumer '%s' is running (its slot is in use by process %s): stop "
                 "it first", consumer_name, PQgetvalue(r, 0, 2));
        PQclear(r);
        return -1;
    }
    char *slot = PQgetisnull(r, 0, 0) ? NULL : xstrdup(PQgetvalue(r, 0, 0));
    char *pub = PQgetisnull(r, 0, 1) ? NULL : xstrdup(PQgetvalue(r, 0, 1));
    PQclear(r);
    rc = 0;
    if (slot) {
        const char *ps[] = {slot};
        rc = pgconn_query(conn,
                      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE "
                      "slot_name = $1",
                      1, ps, PGRES_TUPLES_OK, NULL, err, errlen);
    }
    if (!rc && pub) {
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
