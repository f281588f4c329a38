/* stream: the consumer machinery every analytic stage runs on. A consumer reads new readings
 * once — through logical replication (a slot of its own and a publication shared by the
 * consumers of its shard, pgoutput with binary values) or, on servers without replication
 * rights, by polling — and hands them in batches to one or more stages. It commits every stage's
 * outputs, every stage's state and its position in one transaction, so that killed at any
 * instant and restarted it produces exactly what an uninterrupted run produces. When the server
 * invalidates its slot (max_slot_wal_keep_size) it reads what it missed from the table and goes
 * on from a new slot, still exactly once. See docs/streaming.md.
 *
 * Positions are kept per source (stream_checkpoint.source): 'local' on plain PostgreSQL; on
 * Citus each node's stream is a source of its own (docs/scaling.md). */
#ifndef PGPULSE_STREAM_H
#define PGPULSE_STREAM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "buf.h"
#include "readingcsv.h"

#define STREAM_SOURCE_LOCAL "local"
#define STREAM_DEFAULT_BATCH_MS 100
#define STREAM_DEFAULT_BATCH_ROWS 200000

/* What a stage is told about the consumer it runs in. */
typedef struct stream_ctx {
    const char *consumer; /* consumer name */
    int shard, shards;    /* this consumer's shard: robots with robot_id % shards == shard */
} stream_ctx;

/* A stage: an operator over the stream of readings.
 *   open       builds its state from the blob saved at the last commit (NULL, 0: fresh) and
 *              from its own tables (conn, outside any transaction of the consumer's); returns
 *              NULL with a message on error (when conn was lost meanwhile, the consumer
 *              reconnects and opens it again; any other error stops the consumer)
 *   rows       takes the next rows, in the order the source delivered them; no I/O
 *   commit     inside the consumer's transaction: writes what the rows since the last commit
 *              produced, and appends its state to *state (leave it empty if it has none);
 *              returns 0, or -1 with a message (the transaction is then rolled back, and the
 *              stage is reopened from its last saved state)
 *   free       releases it */
typedef struct stream_stage_ops {
    const char *name;
    void *(*open)(const uint8_t *state, size_t len, const stream_ctx *ctx, PGconn *conn,
                  char *err, size_t errlen);
    void (*rows)(void *stage, const reading *rows, size_t n);
    int (*commit)(void *stage, PGconn *conn, buf *state, char *err, size_t errlen);
    void (*free)(void *stage);
} stream_stage_ops;

typedef struct stream_opts {
    const char *conninfo;
    const char *consumer;                 /* name: [a-z0-9_+.]+ */
    const stream_stage_ops *const *stages;
    int nstages;
    int poll;                             /* read by polling instead of replication */
    int shard, shards;                    /* --shard shard/shards (shards 1: all robots) */
    int batch_ms;                         /* commit at least this often while rows flow
                                             (and 20 ms after the stream pauses) */
    int batch_rows;                       /* and at most this many rows at a time */
    int poll_ms;                          /* poll: how often to look for new rows */
    int status_s;                         /* print a status line this often (0: never) */
    uint64_t stop_lsn;                    /* cdc, non-zero: stop there (see stream_run) */
} stream_opts;

/* Runs a consumer until *stop becomes non-zero (it then commits what it has and returns 0).
 * One process at a time runs a consumer: while another holds it (a session advisory lock in
 * its database), this one says so and waits. Connection losses and server restarts are retried with backoff, resuming from the last
 * checkpoint; a slot that was invalidated or dropped is replaced, the rows it did not deliver
 * read from the table. Returns -1 with a message for what retrying cannot fix: a bad name, a
 * consumer that exists with other settings, a lost slot under a checkpoint written by a pgpulse
 * too old to say which transactions it applied.
 *
 * With o->stop_lsn (cdc) it also returns 0 once the consumer has applied every transaction that
 * commits below that WAL position and none at or above it: its checkpoint then has end_lsn at or
 * past stop_lsn, commit_lsn below it and no transaction in part — where a slot created with
 * stop_lsn as its consistent point takes over. A consumer that stands at or past it already
 * returns at once, and one that recovers a lost slot meanwhile catches up to its new slot's
 * start, which may be past it: the caller reads the checkpoint to know. */
int stream_run(const stream_opts *o, volatile sig_atomic_t *stop, char *err, size_t errlen);

/* Makes a consumer ready without running it: registers it (as stream_run would, with the same
 * checks of its name and settings) and, for a cdc consumer that has no slot yet, finds its
 * publication and creates its slot (which waits for the transactions open in the cluster at
 * that moment to end), then returns. Every row committed after it returns is read when the
 * consumer runs, however late it starts: `pgpulse run` prepares its consumers before it starts
 * the simulator. A consumer that already exists is left as it is (a lost slot is recovered by
 * the consumer when it runs). Connects once, without retrying. Returns 0, or -1 with a message
 * (a connection that fails or is lost, a consumer that exists with other settings). */
int stream_prepare(const stream_opts *o, char *err, size_t errlen);

/* Every consumer's position and lag, one row each, ordered by name, in these columns:
 *   0 consumer, 1 source_kind, 2 shard, 3 shards, 4 rows, 5 position (end LSN or poll
 *   transaction id), 6 lag_bytes (cdc: WAL the slot still holds for it; NULL for poll),
 *   7 lag_seconds (0 when caught up), 8 checkpoint_age_seconds, 9 active (a process of it is
 *   connected), 10 slot_name, 11 slot_status (wal_status of its slot, 'missing' if it has none,
 *   NULL for poll), 12 stages, 13 mode (cdc: stream, catchup, ...), 14 safe_wal_size (bytes the
 *   server may still write before the slot is past max_slot_wal_keep_size; NULL if unbounded or
 *   lost), 15 max_slot_wal_keep_size in bytes (NULL: unbounded), 16 recoveries (lost slots
 *   recovered from), 17 applied_xids (ids the checkpoint lists beyond its covered snapshot).
 * Returns the result, or NULL with a message. */
PGresult *stream_status(PGconn *conn, char *err, size_t errlen);

/* Removes a consumer: its slot (which must not be in use), its checkpoint and its stages'
 * state, and its publication if it had one of its own (older pgpulse; the shared ones stay).
 * Its stages' output tables are left as they are. Returns 0, or -1 with a message (unknown
 * consumer, still running). */
int stream_drop(PGconn *conn, const char *consumer, char *err, size_t errlen);

#define STREAM_SLOT_NAME_MAX 63     /* bytes in a slot name (PostgreSQL's NAMEDATALEN - 1) */
#define STREAM_SLOT_CONSUMER_MAX 46 /* characters of the consumer's name kept in it */

/* The slot name of a new cdc consumer of database `database`: pgpulse_<consumer, '+' and '.' as
 * '_', at most STREAM_SLOT_CONSUMER_MAX characters>_<8 hex digits of a hash of the database's
 * and the consumer's names>, an identifier ([a-z0-9_]) of at most STREAM_SLOT_NAME_MAX bytes.
 * Slot names are cluster-wide: the hash keeps consumers of the same name in two databases of
 * one cluster (and "a+b" beside "a_b") apart. Written into out (len bytes, truncated if too
 * small: give it STREAM_SLOT_NAME_MAX + 1). A consumer keeps the slot name recorded when it
 * registered (stream_consumer.slot_name), so consumers made by an older pgpulse keep theirs
 * (pgpulse_<consumer>). */
void stream_slot_name(const char *database, const char *consumer, char *out, size_t len);

/* Checks a consumer or stage name; returns 0 or -1 with a message. */
int stream_check_name(const char *name, char *err, size_t errlen);

#endif
