/* sse: the live push of `pgpulse serve` — one hub of Server-Sent Events that every client
 * reads. Publishers (the one database listener, serve_feed.c) append events; each event gets
 * the next id (1, 2, ...) and is kept in a bounded ring (SSE_RING_EVENTS events, SSE_RING_BYTES
 * bytes, whichever is reached first) so that a client reconnecting with Last-Event-ID receives
 * what it missed; one whose id fell out of the ring (or came from another server process: ids
 * carry the hub's boot id, "<boot>-<seq>") gets an `event: reset` first and must refetch.
 * A client costs no database work: publishing is O(1), and a parked client's reader is called
 * only after a publish (http_server_wake). The hub sends no keepalive of its own: its publisher
 * must publish at least every 15 s so that idle connections stay open through proxies (the
 * server's feed is to publish `fleet` every second).
 *
 * Thread-safe: publish from any thread, read from the HTTP pool threads. */
#ifndef PGPULSE_SSE_H
#define PGPULSE_SSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SSE_RING_EVENTS 4096
#define SSE_RING_BYTES (8u << 20)

typedef struct sse_hub sse_hub;
typedef struct sse_client sse_client;

/* A new hub; wake(wake_arg) is called after each publish (http_server_wake), may be NULL. */
sse_hub *sse_hub_new(void (*wake)(void *), void *wake_arg);
void sse_hub_set_wake(sse_hub *h, void (*wake)(void *), void *wake_arg);
void sse_hub_free(sse_hub *h); /* after every client is freed; NULL-safe */

/* Appends one event (type: "fleet", "robots", "anomaly", ...; data: one line of JSON, no
 * newline) and returns its sequence number. */
uint64_t sse_publish(sse_hub *h, const char *type, const char *data, size_t len);

/* A client starting after last_event_id (NULL or "": only what is published from now on,
 * after a `hello` event naming the hub's boot id and the newest id; an id the hub no longer
 * holds, or of another boot, or malformed: `reset`, then what is published from now on). */
sse_client *sse_client_new(sse_hub *h, const char *last_event_id);
/* http_stream_read for a client: the next events' bytes, 0 when none is ready. A client that
 * lags more than the ring holds is moved on with an `event: reset`. */
ssize_t sse_client_read(void *client, char *out, size_t max);
void sse_client_free(void *client); /* http_stream_free */

/* Clients connected now, and the newest sequence number (= events published); either pointer
 * may be NULL. */
void sse_hub_counts(sse_hub *h, int *clients, uint64_t *newest);

#endif
