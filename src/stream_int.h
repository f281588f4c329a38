/* stream_int: what the parts of a stream consumer share — its working state, its checkpoint and
 * the commit that writes both — and nothing outside them uses:
 *   stream.c          the run loop, stages, the commit, names
 *   stream_setup.c    registration, publication, slot creation and the start of a recovery
 *   stream_cdc.c      the logical replication loop
 *   stream_catchup.c  reading from the table what a lost slot did not deliver
 *   stream_poll.c     the polling loop
 *   stream_admin.c    status and drop
 * See stream.h for the contract and docs/streaming.md for the design. */
#ifndef PGPULSE_STREAM_INT_H
#define PGPULSE_STREAM_INT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "pgoutput.h"
#include "readingcsv.h"
#include "stream.h"
#include "txnpart.h"
#include "xidset.h"
#include "util.h"

#define STREAM_PENDING_MAX 16 /* (LSN, snapshot) pairs waiting to become the covered snapshot */
/* While rows flow, a batch lasts batch_ms or this many times the last commit, whichever is
 * longer: behind a backlog, slow commits (stages that write a lot per commit) take at most a
 * quarter of the consumer's time, and batches grow until they do; at live rates commits are
 * short and batch_ms rules. */
#define STREAM_COMMIT_SHARE 3
/* On Citus a stage's failed statement is retried like a lost connection (a worker restarting)
 * for this long in a row before the consumer stops with it: a worker restart here takes under a
 * second, and the reconnect backoff reaches 5 s. Tests shorten it with
 * PGPULSE_TEST_STAGE_RETRY_S (stream_stage_retry_s). */
#define STREAM_STAGE_RETRY_S 20

/* Where a cdc consumer stands (stream_checkpoint.mode). */
typedef enum stream_mode {
    STREAM_MODE_NEW = 0,    /* registered, no slot yet */
    STREAM_MODE_STREAM,     /* reading its slot */
    STREAM_MODE_RECOVERING, /* its slot was lost: replacing it */
    STREAM_MODE_CATCHUP     /* reading from the table what the lost slot did not deliver */
} stream_mode;

const char *stream_mode_name(stream_mode m);

/* A consumer's checkpoint (one row of stream_checkpoint). */
typedef struct stream_ckpt {
    stream_mode mode;
    uint64_t commit_lsn;  /* cdc: last transaction applied in full (0: none on this slot) */
    uint64_t end_lsn;     /* its end: what the slot is told is flushed; in memory it also
                             moves with keepalives while nothing is in flight */
    uint64_t partial_lsn; /* cdc: a transaction applied in part, and how far */
    int64_t partial_rows;
    uint64_t partial_xid; /* its id (0: unknown) */
    txnpart part;         /* its rows applied, per robot */
    int64_t poll_xid;     /* poll: every transaction below is applied */
    int64_t rows;         /* rows consumed so far */
    int64_t last_commit;  /* commit time (µs since 1970) of the last transaction applied */
    int has_covered;      /* cdc: covered is known (not before the first promotion of a
                             consumer created by an older pgpulse) */
    xidset_snap covered;  /* transactions it shows as ended are accounted for, and so
                             are those listed in stream_applied_xid */
    int64_t napplied;     /* ids in stream_applied_xid */
    xidset_snap catchup;  /* catchup: the new slot's exported snapshot */
    uint64_t catchup_lsn; /* catchup: the new slot's consistent point */
    int has_cursor;       /* catchup: rows up to (cursor_ts, cursor_robot) are delivered */
    int64_t cursor_ts;
    int32_t cursor_robot;
} stream_ckpt;

void stream_ckpt_copy(stream_ckpt *dst, const stream_ckpt *src);
void stream_ckpt_free(stream_ckpt *k);

/* A snapshot taken with the WAL insert position right after it: once the consumer has handled
 * the stream up to lsn, every transaction the snapshot shows as ended is applied or was there
 * before the consumer began. */
typedef struct stream_pending {
    uint64_t lsn;
    xidset_snap snap;
} stream_pending;

/* How a stream's Relation message for reading maps its columns (OIDs and column order are
 * per stream: on Citus every node has its own). */
typedef struct stream_relmap {
    uint32_t relid;            /* reading's OID in this stream (0: not seen yet) */
    int col[2 + READING_AXES]; /* tuple index of robot_id, ts, axis1..8 */
} stream_relmap;

/* Takes a Relation message: maps reading's columns (other relations are left alone). Returns 0,
 * or -1 with a message when reading lacks a column or has one of another type. */
int stream_relmap_read(stream_relmap *map, const pgoutput_msg *m, char *err, size_t errlen);

/* Decodes an Insert into reading (m's relid is map's) into *out. Returns 0, or -1 with a
 * message when a value is not binary or not of its column's size. */
int stream_relmap_row(const stream_relmap *map, const pgoutput_msg *m, reading *out, char *err,
                      size_t errlen);

struct stream_citus;

/* A consumer's working state between reconnections. */
typedef struct consumer {
    const stream_opts *o;
    stream_ctx ctx;
    char slot[128]; /* slot name */
    char pub[128];  /* publication name (cdc) */
    PGconn *db;     /* outputs, checkpoint */
    PGconn *repl;   /* replication (cdc) */
    PGconn *reader; /* catch-up: the table read, in one snapshot */
    void **stages;  /* open stages */
    stream_ckpt ck; /* the checkpoint as last committed (see end_lsn) */
    /* The batch being gathered. */
    reading *rows;
    size_t nrows, rows_cap;
    int64_t fed_rows;                 /* rows given to the stages early (poll), not yet committed */
    int64_t batch_start_us;           /* monotonic time of its first row, 0 if empty */
    int64_t commit_us;                /* how long the last commit took (stream_batch_due) */
    int64_t stage_fail_us;            /* Citus: since when stages fail in a row (0: they do
                                         not), across reconnections ... */
    int64_t stage_fail_last_us;       /* ... and when they last failed */
    uint64_t b_commit_lsn, b_end_lsn; /* last transaction completed in the batch (0: none) */
    int64_t b_commit_time;
    xidset_list b_xids; /* transactions completed in the batch that covered does not
                           show as ended (stream_applied_xid at the commit) */
    /* The transaction being decoded. */
    int in_txn;
    uint64_t txn_lsn; /* its commit LSN (Begin's final_lsn) */
    uint32_t txn_xid; /* its id (Begin's, 32 bits) */
    int64_t txn_rows; /* its rows seen so far */
    int64_t txn_skip; /* rows to skip (applied before a restart), -1: all */
    size_t txn_first; /* index in rows of its first row in this batch */
    stream_relmap map; /* reading in the replication stream */
    struct stream_citus *citus; /* on Citus: every node's stream (stream_citus.c); else NULL */
    /* Snapshots waiting for the stream to reach their LSN, oldest first. */
    stream_pending pending[STREAM_PENDING_MAX];
    int npending;
    /* Feedback. */
    int stopped;       /* o->stop_lsn: the stream has passed it */
    uint64_t received; /* highest WAL position received */
    int64_t last_status_us;
    int64_t last_print_us;
    int64_t printed_rows;
} consumer;

/* Checks the options' name and shard and sets c up for them (nothing connected). Returns 0,
 * or -1 with a message. */
int stream_consumer_init(consumer *c, const stream_opts *o, char *err, size_t errlen);

/* Closes c's connections and stages and frees what it holds (after stream_consumer_init, even
 * when that failed). */
void stream_consumer_free(consumer *c);

/* What a commit closes. */
typedef enum stream_step {
    STREAM_STEP_CDC,      /* the batch ends after a whole transaction (or has none) */
    STREAM_STEP_PARTIAL,  /* the batch ends inside the current transaction */
    STREAM_STEP_POLL,     /* a poll up to poll_hi */
    STREAM_STEP_CATCHUP,  /* a chunk of the catch-up (rows in (ts, robot_id) order) */
    STREAM_STEP_CAUGHT_UP /* the catch-up's last chunk: streaming resumes from the new slot */
} stream_step;

/* 1 when the batch gathered since c->batch_start_us is due for its commit at now_us (see
 * STREAM_COMMIT_SHARE); 0 for an empty batch. */
int stream_batch_due(const consumer *c, int64_t now_us);

/* Hands the batch to the stages and commits their outputs, their state and the checkpoint
 * after `step` in one transaction (poll_hi: the new poll position for STREAM_STEP_POLL).
 * Returns 0, or -1 / PGCONN_LOST with a message; after a failure the consumer must reconnect
 * and reopen its stages. */
int stream_commit(consumer *c, stream_step step, int64_t poll_hi, char *err, size_t errlen);

/* The first part of every commit: hands the batch to the stages, opens the transaction and
 * writes every stage's outputs and state in it (counting the batch's rows). Returns 0 with the
 * transaction open for the position, or -1 / PGCONN_LOST with a message (the caller rolls
 * back). */
int stream_commit_stages(consumer *c, char *err, size_t errlen);

/* The last part of every commit, once it committed: the batch is empty again, and the commit's
 * duration (since t0, monotonic µs) is remembered (stream_batch_due). */
void stream_batch_done(consumer *c, int64_t t0);

/* Writes checkpoint k (every column), adding add_rows to its row count, in the open
 * transaction or on its own. With want_snapshot, *pending receives the snapshot and WAL insert
 * position the statement saw (free its snap). Returns 0, or -1 / PGCONN_LOST with a message. */
int stream_ckpt_write(consumer *c, const stream_ckpt *k, int64_t add_rows, int want_snapshot,
                      stream_pending *pending, char *err, size_t errlen);

/* Within the commit's transaction: with covered, removes from stream_applied_xid the ids it
 * shows as ended; with clear, removes them all; then (unless clear) adds the batch's b_xids that
 * are not ended in covered. *napplied follows the table's count. Returns 0, or -1 / PGCONN_LOST
 * with a message. */
int stream_applied_update(consumer *c, const xidset_snap *covered, int clear, int64_t *napplied,
                          char *err, size_t errlen);

/* True if a snapshot waits whose LSN the stream has passed (c->ck.end_lsn). */
int stream_pending_due(const consumer *c);

/* Reads the consumer's checkpoint into c->ck. Returns 0, or -1 / PGCONN_LOST with a message. */
int stream_ckpt_read(consumer *c, char *err, size_t errlen);

/* Appends a row to the batch. */
void stream_add_row(consumer *c, const reading *r);

/* Prints a progress line when one is due (--status-every). */
void stream_print_status(consumer *c);

/* A line on standard error prefixed with the consumer's name. */
void stream_log(const consumer *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Decodes rows (robot_id, ts, axis1..8, binary format) of a result into the batch. */
void stream_add_result_rows(consumer *c, const PGresult *r);

/* Fault injection for tests (util_test_fault): the consumer's points. */
#define stream_fault(point) util_test_fault(point)

/* Runs a command that may wait (slot creation waits for the transactions open now) on conn,
 * cancelling it if *stop becomes set. Returns the last result, as PQexec does (an error when
 * the connection was lost before the end of the reply; the caller PQclears it). */
PGresult *stream_exec_interruptible(PGconn *conn, const char *sql, volatile sig_atomic_t *stop);

/* stream_setup.c: takes the consumer's lock (one process at a time; waits while another holds
 * it), registers the consumer, ensures its publication and slot, and starts a recovery when the
 * slot is lost. Returns 0 also when *stop was set while it waited. */
int stream_setup(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen);

/* stream_catchup.c: reads from the table what the lost slot did not deliver, in chunks. Returns
 * 0 when done or stopped, else an error (PGCONN_LOST to retry). */
int stream_catchup(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen);

/* stream_cdc.c: the replication loop. */
int stream_cdc_loop(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen);

/* stream_poll.c: the polling loop. */
int stream_poll_loop(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen);

/* stream_citus.c: a consumer on Citus (every node's stream; see the file's comment).
 *   detect      *citus = 1 when reading is a distributed table (then polling and a stop position
 *               are refused with a message)
 *   open        gives c its (empty) Citus state; close frees it and the nodes' connections
 *   setup       after stream_register: every node's slot and checkpoint row (a new consumer's,
 *               or a node that joined without shards), and the robots' last nodes
 *   loop        reads every node until *stop, committing as stream_cdc_loop does
 *   drop_slots  drops the consumer's slot on every node it has a checkpoint row of
 * Each returns 0, or -1 / PGCONN_LOST with a message. */
int stream_citus_detect(consumer *c, int *citus, char *err, size_t errlen);
void stream_citus_open(consumer *c);
void stream_citus_close(consumer *c);
int stream_citus_setup(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen);
int stream_citus_loop(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen);
int stream_citus_drop_slots(PGconn *conn, const char *consumer_name, char *err, size_t errlen);

/* The 64-bit id of a 32-bit one from pgoutput, by the consumer's newest snapshot. */
uint64_t stream_widen_xid(const consumer *c, uint32_t xid);

#endif
