/* serve_feed: the one database listener behind the live push of `pgpulse serve`. A thread with
 * one connection LISTENs on pgpulse_live and pgpulse_anomaly (the stages' channels) and, after
 * each burst of notifications, runs one query per kind of change and publishes to the SSE hub
 * (docs/api.md, "The live push"):
 *
 *   robots   the robots whose last reading changed since the last publish (live_robot, with the
 *            detect stage's expected band from detect_band), "commit": the commit time of the
 *            newest reading when track_commit_timestamp is on (else null), and "published": the
 *            server's clock when the event was made
 *   anomaly  each episode of the consumer that opened, grew, rose or closed (anomaly.updated_at
 *            past a watermark), one event per episode
 *   fleet    every second (also the hub's keepalive): rows/s, robots by state, open episodes by
 *            level, lag, each stage's rows and lag
 *
 * The cost to the database does not depend on the number of clients: one connection, at most a
 * few statements per notification burst and one per second. A lost connection is reopened with
 * backoff (1 s doubling to 30 s) and LISTEN re-issued; what changed meanwhile is published from
 * the watermarks, so nothing is missed. */
#ifndef PGPULSE_SERVE_FEED_H
#define PGPULSE_SERVE_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "sse.h"

typedef struct serve_feed serve_feed;

/* Starts the feed's thread: connects (conninfo), LISTENs and computes the first fleet figures before returning, so that a change
 * committed after this returns is published. Returns NULL with a message when the first
 * connection fails. consumer: whose outputs are published. */
serve_feed *serve_feed_start(const char *conninfo, const char *consumer, sse_hub *hub, char *err,
                             size_t errlen);

/* The latest fleet figures (what the last `fleet` event said) as a JSON object, malloc'd; the
 * caller frees it. serve_feed_start computes the first before returning. Any thread. */
char *serve_feed_fleet(serve_feed *f);

/* What the feed has cost the database since start: statements run, notifications received,
 * reconnections. */
void serve_feed_counts(serve_feed *f, uint64_t *statements, uint64_t *notifications,
                       uint64_t *reconnects);

/* Stops the thread, closes the connection, frees f. NULL-safe. */
void serve_feed_stop(serve_feed *f);

#endif
