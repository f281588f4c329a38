/* serve_feed_int: what the live feed's two files share — the feed's state, and the statements
 * and publications of serve_feed_query.c that the thread of serve_feed.c runs. Private to
 * serve_feed*.c. */
#ifndef PGPULSE_SERVE_FEED_INT_H
#define PGPULSE_SERVE_FEED_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "serve_feed.h"

#define FEED_ROBOTS_GAP_US INT64_C(100000) /* robots queries at most every 100 ms */
#define FEED_OVERLAP_US INT64_C(5000000)   /* anomaly: re-read 5 s below the watermark */
#define FEED_RATE_SAMPLES 8                /* rows_per_s: the consumer's rows, once a tick ... */
#define FEED_RATE_WINDOW_US INT64_C(5500000) /* ... over the last 5 s */
#define FEED_STOP (-10)                    /* a stop was asked (not an error) */

/* A robot's last_ts as last published (µs); id 0: an empty slot (robot ids are positive). */
typedef struct feed_robot {
    int32_t id;
    int64_t ts;
} feed_robot;

/* An episode's updated_at as last published (µs); id 0: an empty slot (ids start at 1). */
typedef struct feed_episode {
    int64_t id;
    int64_t updated;
} feed_episode;

/* The consumer's rows at a tick, for rows_per_s. */
typedef struct feed_sample {
    int64_t mono;          /* util_mono_us() when the figures arrived */
    int64_t rows;          /* the consumer's rows (stream_checkpoint) */
} feed_sample;

struct serve_feed {
    char *conninfo;                  /* where (as given) */
    char *consumer;                  /* whose outputs are published */
    sse_hub *hub;                    /* where events go */
    pthread_t thread;
    int wake[2];                     /* serve_feed_stop writes [1]; the thread polls [0] */
    atomic_int stopping;             /* set by serve_feed_stop */
    _Atomic uint64_t statements;     /* statements sent */
    _Atomic uint64_t notifications;  /* notifications received */
    _Atomic uint64_t reconnects;     /* connections re-established after a loss */
    pthread_mutex_t mu;              /* guards fleet */
    char *fleet;                     /* the last fleet JSON (serve_feed_fleet) */
    /* The thread's own from here (serve_feed_start fills them before the thread runs). */
    PGconn *conn;                    /* NULL while reconnecting */
    int commit_ts;                   /* the server keeps commit timestamps (per connection) */
    feed_robot *robots;              /* open addressing on id: last_ts published */
    size_t robots_cap, nrobots;
    feed_episode *episodes;          /* open addressing on id: episodes near the watermark */
    size_t episodes_cap, nepisodes;
    int64_t anomaly_mark;            /* newest anomaly.updated_at seen (µs); INT64_MIN: none yet */
    feed_sample rate[FEED_RATE_SAMPLES]; /* ring of the last ticks' rows */
    int nrate, rate_next;
    char fleet_t[40];                /* the last figures: their time, */
    double rows_per_s;               /* rate, */
    char *fleet_rest;                /* and the rest of the object ("{...}", from the server) */
    int want_robots;                 /* a live commit was notified: robots query due */
    int want_anomaly;                /* an anomaly of ours was notified, or the mark moved */
    int64_t last_robots;             /* util_mono_us() of the last robots query */
    int64_t next_tick;               /* util_mono_us() of the next fleet */
};

/* The robots whose last_ts differs from what was last published: one `robots` event (none when
 * nothing changed). publish 0: only records every robot's last_ts (the baseline at start).
 * Each returns 0, or what feed_query returned. */
int feed_robots(serve_feed *f, int publish, char *err, size_t errlen);

/* The consumer's episodes updated past the watermark (less FEED_OVERLAP_US, deduplicated by
 * (id, updated_at)): one `anomaly` event each, in (updated_at, id) order. publish 0: only sets
 * the watermark and records the episodes near it (the baseline at start). */
int feed_anomaly(serve_feed *f, int publish, char *err, size_t errlen);

/* The fleet figures, in one statement: stores and publishes a `fleet` event, and asks for the
 * anomaly query when the consumer's newest episode update is past the watermark. */
int feed_fleet(serve_feed *f, char *err, size_t errlen);

/* Publishes the last fleet figures again with "database" set to "ok" or (reachable 0)
 * "unreachable", and stores them for serve_feed_fleet. Nothing before the first figures. */
void feed_publish_fleet(serve_feed *f, int reachable);

/* Frees f's memory and closes its pipe (the thread is joined, the connection closed). */
void feed_free(serve_feed *f);

/* Runs one statement on f->conn, asynchronously so that a stop interrupts it (nparams < 0: a
 * simple query, possibly of several statements, whose last result is returned). Returns 0
 * with the result in *out (the caller PQclears it), -1 with the server's message, PGCONN_LOST
 * when the connection is gone, or FEED_STOP. Counts the statement. */
int feed_query(serve_feed *f, const char *sql, int nparams, const char *const *params,
               ExecStatusType expect, PGresult **out, char *err, size_t errlen);

/* A line on stderr about the feed. */
void feed_log(serve_feed *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
