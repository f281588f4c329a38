/* serve: the application behind `pgpulse serve` — routes each request of the HTTP server
 * (http.h) to the live push (/api/stream: the SSE hub fed by serve_feed.h), the fleet figures
 * (/api/fleet, from the feed, no query), the JSON API (api.h, on the pool thread's own
 * database connection), the Prometheus metrics (/metrics) or the embedded dashboard
 * (webassets.h, with ETags). See docs/api.md. */
#ifndef PGPULSE_SERVE_H
#define PGPULSE_SERVE_H

#include <stddef.h>

typedef struct serve serve;

typedef struct serve_opts {
    const char *conninfo; /* the database: the feed's listener and one connection per thread */
    const char *consumer; /* whose outputs are shown */
    const char *listen;   /* "127.0.0.1:8080"; port 0: any free port */
    const char *token;    /* PGPULSE_TOKEN (acknowledging needs it), or NULL */
    int threads;          /* HTTP pool threads (0: 4) */
    int max_per_client;   /* connections per client address (0: http.h's default, 64) */
    int quiet;            /* 1: no request log on stderr for 5xx answers */
} serve_opts;

/* Starts the feed and the HTTP server. Returns NULL with a message (the database cannot be
 * reached, the address cannot be bound). */
serve *serve_start(const serve_opts *o, char *err, size_t errlen);

/* The port it listens on. */
int serve_port(const serve *s);

/* Stops the server (every stream ends), the feed, and frees s. NULL-safe. */
void serve_stop(serve *s);

#endif
