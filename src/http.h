/* http: the HTTP server under `pgpulse serve` — libmicrohttpd (epoll, a small pool of threads)
 * behind a narrow interface, so that the API (api*.c) and the live push (sse.c) never see
 * libmicrohttpd's types.
 *
 * It owns what protects the server from its clients: loopback unless told otherwise; bounds on
 * the request line, the headers (count and bytes), the body and the time a client may take to
 * send its headers (a slow-loris client is dropped, others are unaffected); a cap on connections
 * per client address and in all (RLIMIT_NOFILE raised as far as allowed); paths decoded once and
 * refused when they could climb ("..", NUL, a backslash). A request it refuses gets a 4xx JSON
 * error ({"error": "...", "status": N}) that names what was wrong; the handler never sees it.
 *
 * Threads: handlers run on the pool's threads, several at once; http_server_wake may be called
 * from any thread. */
#ifndef PGPULSE_HTTP_H
#define PGPULSE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "httpq.h"

typedef struct http_server http_server;

/* What a handler is given. Everything points into memory the server owns until the handler
 * returns (copy what a stream must keep). */
typedef struct http_request {
    const char *method;        /* "GET", "POST", "HEAD", ... */
    const char *path;          /* percent-decoded, starts with '/', without the query string */
    const httpq *query;        /* the query string's parameters (httpq.h) */
    const char *body;          /* the body (POST), NUL-terminated; "" if none */
    size_t body_len;
    const char *client;        /* the client's address, as text ("127.0.0.1") */
    const char *authorization; /* the Authorization header, or NULL */
    const char *last_event_id; /* the Last-Event-ID header, or NULL */
    int thread;                /* index of the pool thread running the handler, 0..threads-1 */
} http_request;

/* A stream's reader (Server-Sent Events): writes at most max bytes of what comes next into out
 * and returns how many; 0 when nothing is ready yet (the server then parks the connection,
 * using no CPU, until http_server_wake); HTTP_STREAM_END to end the response. Called on a pool
 * thread, one call at a time per stream. */
#define HTTP_STREAM_END ((ssize_t)-1)
typedef ssize_t http_stream_read(void *stream, char *out, size_t max);
/* Releases a stream when its response ends or its client goes away. */
typedef void http_stream_free(void *stream);

/* What a handler fills in. The server sets status 200, Content-Type application/json and an
 * empty body before calling it. */
typedef struct http_response {
    int status;
    const char *content_type;     /* a static string */
    const char *cache_control;    /* a static string, or NULL (then "no-store") */
    const char *etag;             /* static assets: their hash; NULL otherwise */
    buf body;                     /* the body (owned by the server, freed after sending) */
    /* A stream instead of a body (set by http_response_stream). */
    http_stream_read *stream_read;
    http_stream_free *stream_free;
    void *stream;
} http_response;

/* Handles one request: fills resp. Returns 0; a handler that returns -1 makes the server
 * answer 500 {"error":"internal error"} (and log the request). */
typedef int http_handler(void *app, const http_request *req, http_response *resp);

/* Makes resp an error: status and {"error": msg, "status": status} (msg formatted). */
void http_response_error(http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Makes resp a stream of unknown length (sent chunked) read by read(stream, ...), released by
 * release(stream) when it ends; content_type as given ("text/event-stream"). */
void http_response_stream(http_response *resp, const char *content_type, http_stream_read *read,
                          http_stream_free *release, void *stream);

typedef struct http_config {
    const char *listen;             /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080";
                                       port 0: any free port (http_server_port tells) */
    int threads;                    /* pool threads (default 4) */
    size_t max_request_bytes;       /* request line + headers (default 16 KiB) */
    int max_headers;                /* header fields (default 64) */
    size_t max_body_bytes;          /* default 64 KiB */
    int header_timeout_ms;          /* a connection must send its headers within (default 5000) */
    int idle_timeout_s;             /* a keep-alive connection idle this long is closed (60) */
    int max_per_client;             /* connections per client address (default 64) */
    int max_connections;            /* in all (default: what RLIMIT_NOFILE allows, up to 10000) */
    void (*log)(void *app, const http_request *req, int status, double ms); /* or NULL */
} http_config;

/* Starts serving. Returns the server, or NULL with a message (a bad listen address, a port in
 * use: the message names the address). */
http_server *http_server_start(const http_config *cfg, http_handler *handler, void *app,
                               char *err, size_t errlen);

/* The port it listens on. */
int http_server_port(const http_server *s);

/* Resumes every parked stream so that its reader is called again (from any thread). */
void http_server_wake(http_server *s);

/* Connections open now, and the streams among them. */
void http_server_counts(const http_server *s, int *connections, int *streams);

/* Stops serving: ends every stream (its release is called), closes every connection, frees s.
 * NULL-safe. */
void http_server_stop(http_server *s);

#endif
