/* stream_citus_int: what the two parts of a consumer on Citus share (see stream_citus.c for the
 * design):
 *   stream_citus.c       nodes and their connections, robots' last nodes, setup, slots dropped
 *   stream_citus_read.c  the streams read, the hand-over at a shard move, the commit */
#ifndef PGPULSE_STREAM_CITUS_INT_H
#define PGPULSE_STREAM_CITUS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "stream_int.h"

#define STREAM_CITUS_MAX_NODES 64
#define STREAM_CITUS_STATUS_US (10 * INT64_C(1000000)) /* status update at least this often */
#define STREAM_CITUS_IDLE_MS 20       /* commit a batch this soon once every stream pauses */
#define STREAM_CITUS_IDLE_ASK_MS 1000 /* idle: ask a node for its WAL end this often */
#define STREAM_CITUS_ASK_MS 10        /* a node another waits on: ask this often */
#define STREAM_CITUS_NODES_MS 5000    /* look for nodes that joined or left this often */
#define STREAM_CITUS_BURST 256        /* messages read from one node before the next */
#define STREAM_CITUS_HOLD_SAY_US (30 * INT64_C(1000000))

typedef struct stream_node {
    char source[96]; /* 'host:port': its stream_checkpoint.source */
    char host[64];
    int port;
    int has_shards; /* placements on it when the consumer set up */
    int has_row;    /* it has a checkpoint row of this consumer (a slot was made there) */
    PGconn *repl;   /* its change stream */
    PGconn *sql;    /* a plain connection, for its WAL position at a hand-over */
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
    char nodes_sig[2048];     /* the node list it set up with, to see a change */
    stream_robot_src *robots; /* sorted by robot */
    size_t nrobots, robots_cap;
    int ndirty;
    int64_t last_nodes_us;
} stream_citus;

/* A connection to node n as the consumer's own connection is (login, password file, TLS), with
 * the node's host and port; with replication, a replication connection. */
PGconn *stream_node_connect(const consumer *c, const stream_node *n, int replication);

/* Says in err that node n's connection failed at `what`; returns PGCONN_LOST. */
int stream_node_lost(const stream_node *n, PGconn *conn, const char *what, char *err,
                     size_t errlen);

/* The active primary nodes of pg_dist_node, ordered by node id: into cs (unless NULL) and as
 * "host:port,..." into sig. Returns 0, or -1 / PGCONN_LOST with a message. */
int stream_citus_list(consumer *c, stream_citus *cs, char *sig, size_t siglen, char *err,
                      size_t errlen);

/* The robot's entry (NULL: none yet; *at, if given, where it would go). */
stream_robot_src *stream_robot_find(stream_citus *cs, int32_t robot, size_t *at);

/* Records that `node` delivered robot's rows last; dirty: to be written at the next commit. */
void stream_robot_set(stream_citus *cs, int32_t robot, int node, int dirty);

#endif
