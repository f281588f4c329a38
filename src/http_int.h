/* http_int: what http.c (requests, responses, streams) and http_guard.c (the listen socket, the
 * descriptor limit, the header deadline) share. Not part of the server's interface (http.h). */
#ifndef PGPULSE_HTTP_INT_H
#define PGPULSE_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "http.h"

/* One TCP connection (MHD's socket context), from MHD_CONNECTION_NOTIFY_STARTED to _CLOSED. */
typedef struct http_conn {
    struct http_conn *prev, *next; /* in one of the server's deadline lists, or unlinked */
    int listed;                    /* 1: in s->first, 2: in s->again, 0: in neither */
    int64_t deadline_us;           /* util_mono_us by which the next request's headers must be in */
    int fd;                        /* the socket (shut down by the guard when the deadline passes) */
    char client[64];               /* the peer's address as text */
    char *raw_uri;                 /* the current request's URI as sent (before decoding) */
    buf body;                      /* the current request's body */
    size_t body_seen;              /* body bytes received, kept or not */
    int refuse_status;             /* nonzero: answer this status, not the handler's */
    char refuse_msg[256];          /* ... with this message */
    int64_t t0_us;                 /* when the current request's headers were complete */
} http_conn;

/* A FIFO of connections by deadline (deadlines are appended in increasing order). */
typedef struct http_conn_list {
    http_conn *head, *tail;
} http_conn_list;

typedef struct http_stream_ctx http_stream_ctx;

struct http_server {
    struct MHD_Daemon *mhd;
    http_handler *handler;
    void *app;
    http_config cfg;               /* with the defaults filled in */
    int port;

    pthread_mutex_t mu;            /* guards everything below that is not atomic */
    pthread_cond_t guard_cond;     /* wakes the guard thread (a new deadline, or stop) */
    pthread_t guard;
    int guard_started;
    int guard_stop;
    http_conn_list first;          /* connections waiting for their first request's headers */
    http_conn_list again;          /* keep-alive connections waiting for the next request's */
    http_stream_ctx *parked;       /* suspended streams (a list through their next/prev) */
    uint64_t wake_gen;             /* bumped by every http_server_wake */
    int stopping;                  /* http_server_stop has begun: streams end, none park */

    atomic_int nconns;             /* open connections */
    atomic_int nstreams;           /* live streams */
    atomic_int next_thread;        /* the next pool thread index to hand out */
};

/* Opens, binds and listens on cfg->listen ("host:port", "[v6]:port"). Returns the socket, or
 * -1 with a message naming the address. */
int http_guard_listen(const char *listen, char *err, size_t errlen);

/* Raises RLIMIT_NOFILE's soft limit to its hard limit and returns how many connections the
 * descriptors allow (the limit less a margin for everything else the process opens). */
int http_guard_fd_budget(void);

/* Starts / stops the thread that shuts down connections past their header deadline. */
int http_guard_start(http_server *s, char *err, size_t errlen);
void http_guard_stop(http_server *s);

/* A new connection: its first request's headers are due within cfg.header_timeout_ms. */
void http_guard_conn_opened(http_server *s, http_conn *c);
/* Its request's headers are complete: no deadline until the request ends. */
void http_guard_headers_in(http_server *s, http_conn *c);
/* Its request ended and the connection is kept alive: the next request's headers are due
 * within cfg.idle_timeout_s (so a client trickling bytes cannot hold it forever). */
void http_guard_request_done(http_server *s, http_conn *c);
/* It is closing: forget it. */
void http_guard_conn_closed(http_server *s, http_conn *c);

#endif
