/* http: the HTTP server of `pgpulse serve` over libmicrohttpd (see http.h for the contract).
 *
 * One MHD daemon: an internal thread pool of cfg.threads epoll loops, suspend/resume allowed.
 * Per connection an http_conn (MHD's socket context) holds the current request's raw URI (from
 * the URI log callback, before MHD decodes it), its body and, when it is refused, why. The
 * access handler is called once when the headers are in (the checks run then), once per piece
 * of body, and a last time when the body is complete: the response is queued on that last call,
 * so keep-alive works (a response queued on the first call makes MHD close the connection).
 *
 * Streams: a content-reader response of unknown length (chunked). When the stream's reader has
 * nothing, the connection is suspended (returning 0 without suspending would make MHD call the
 * reader again at once, a busy loop) and put on the parked list; http_server_wake resumes every
 * parked connection. A wake between the reader's 0 and the suspension is not lost: the reader
 * notes the wake generation before reading and parks only if no wake came since.
 *
 * Requests MHD refuses by itself, before our handler sees them, get MHD's own answer (an HTML
 * page without a Content-Type): headers larger than the connection's memory pool (about twice
 * max_request_bytes plus 48 KiB, see pool_bytes) get 431, a request line that long 414, and the
 * connection is closed; a client past max_per_client or past max_connections is closed without
 * an answer (MHD accepts and closes it at once). Everything between max_request_bytes and the
 * pool's size is refused here, in JSON, as are too many header fields and too large a body.
 *
 * The header deadline (http_guard.c) also bounds a kept-alive connection between requests: the
 * next request's headers must be in within idle_timeout_s of the previous response's end. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "http_int.h"
#include "util.h"

#define HTTP_STREAM_BLOCK 16384 /* the largest piece a stream's reader is asked for */

struct http_stream_ctx {
    http_stream_ctx *prev, *next;  /* in s->parked while suspended */
    int parked;                    /* 1 while suspended (under s->mu) */
    int resumed;                   /* parked since the last read: is the client still there? */
    http_server *s;
    struct MHD_Connection *mhd;
    int fd;                        /* the connection's socket */
    http_stream_read *read;
    http_stream_free *release;
    void *stream;
};

/* The pool thread running the caller: an index handed out on first use, per thread. */
static _Thread_local const http_server *tl_server;
static _Thread_local int tl_index;

static int thread_index(http_server *s)
{
    if (tl_server != s) {
        tl_server = s;
        tl_index = atomic_fetch_add(&s->next_thread, 1) % s->cfg.threads;
    }
    return tl_index;
}

/* ---- responses a handler fills in ---------------------------------------------------- */

void http_response_error(http_response *resp, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *m = json_string(msg);
    if (!m) {
        /* Not UTF-8 (a client's bytes quoted in the message): keep the ASCII, mark the rest. */
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        m = json_string(msg);
    }
    json_t *o = json_object();
    json_object_set_new(o, "error", m ? m : json_string("(unprintable)"));
    json_object_set_new(o, "status", json_integer(status));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    if (text) buf_puts(&resp->body, text);
    free(text);
}

void http_response_stream(http_response *resp, const char *content_type, http_stream_read *read,
                          http_stream_free *release, void *stream)
{
    resp->content_type = content_type;
    resp->stream_read = read;
    resp->stream_free = release;
    resp->stream = stream;
    buf_reset(&resp->body);
}

/* ---- streams ----------------------------------------------------------------------- */

static void park_remove(http_server *s, http_stream_ctx *x)
{
    if (x->prev) x->prev->next = x->next;
    else s->parked = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
    x->parked = 0;
}

/* Has the client closed its end? (A suspended connection is not polled, so a client that left
 * while parked is noticed here, at the first read after a wake.) */
static int peer_gone(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    http_stream_ctx *x = cls;
    http_server *s = x->s;
    if (x->resumed) {
        x->resumed = 0;
        if (peer_gone(x->fd)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    pthread_mutex_lock(&s->mu);
    uint64_t gen = s->wake_gen;
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    if (stopping) return MHD_CONTENT_READER_END_WITH_ERROR;

    ssize_t n = x->read(x->stream, out, max);
    if (n == HTTP_STREAM_END) return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n > 0) return n;

    pthread_mutex_lock(&s->mu);
    if (gen == s->wake_gen && !s->stopping) {
        /* Allowed from a content reader (microhttpd.h, MHD_suspend_connection). */
        MHD_suspend_connection(x->mhd);
        x->parked = 1;
        x->resumed = 1;
        x->prev = NULL;
        x->next = s->parked;
        if (s->parked) s->parked->prev = x;
        s->parked = x;
    }
    /* else a wake came while reading: MHD calls again at once and the reader looks again. */
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* MHD destroys the response once: when it is complete, the client went away or the daemon
 * stops. Then the stream is released. */
static void stream_done(void *cls)
{
    http_stream_ctx *x = cls;
    http_server *s = x->s;
    pthread_mutex_lock(&s->mu);
    if (x->parked) park_remove(s, x);
    pthread_mutex_unlock(&s->mu);
    x->release(x->stream);
    atomic_fetch_sub(&s->nstreams, 1);
    free(x);
}

/* Resumes every parked stream; stopping: none may park again. */
static void http_resume_all(http_server *s, int stopping)
{
    pthread_mutex_lock(&s->mu);
    if (stopping) s->stopping = 1;
    s->wake_gen++;
    while (s->parked) {
        http_stream_ctx *x = s->parked;
        park_remove(s, x);
        MHD_resume_connection(x->mhd);
    }
    pthread_mutex_unlock(&s->mu);
}

void http_server_wake(http_server *s)
{
    http_resume_all(s, 0);
}

/* ---- requests ---------------------------------------------------------------------- */

static http_conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind, (void)key, (void)value;
    ++*(int *)cls;
    return MHD_YES;
}

/* Does an If-None-Match list hold etag (unquoted)? "*" matches; weak tags compare equal. */
static int etag_matches(const char *inm, const char *etag)
{
    if (!inm) return 0;
    size_t elen = strlen(etag);
    if (elen >= 2 && etag[0] == '"' && etag[elen - 1] == '"') etag++, elen -= 2;
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ',') p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
        if (end - start == 1 && *start == '*') return 1;
        if (end - start >= 2 && start[0] == 'W' && start[1] == '/') start += 2;
        if (end - start >= 2 && *start == '"' && end[-1] == '"') start++, end--;
        if ((size_t)(end - start) == elen && memcmp(start, etag, elen) == 0) return 1;
    }
    return 0;
}

/* The first call for a request: its headers are in. Checks what a handler must never see. */
static void request_begin(http_server *s, http_conn *c, struct MHD_Connection *mc, const char *method)
{
    http_guard_headers_in(s, c);
    c->t0_us = util_mono_us();
    buf_reset(&c->body);
    c->body_seen = 0;
    c->refuse_status = 0;
    c->refuse_msg[0] = '\0';

    int nheaders = 0;
    MHD_get_connection_values(mc, MHD_HEADER_KIND, count_header, &nheaders);
    if (nheaders > s->cfg.max_headers) {
        c->refuse_status = 431;
        snprintf(c->refuse_msg, sizeof c->refuse_msg,
                 "too many header fields: %d (the limit is %d)", nheaders, s->cfg.max_headers);
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    size_t bytes = ci ? ci->header_size : strlen(method) + (c->raw_uri ? strlen(c->raw_uri) : 0);
    if (bytes > s->cfg.max_request_bytes) {
        c->refuse_status = 431;
        snprintf(c->refuse_msg, sizeof c->refuse_msg,
                 "request line and headers too large: %zu bytes (the limit is %zu)", bytes,
                 s->cfg.max_request_bytes);
        return;
    }
    const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && n > s->cfg.max_body_bytes) {
            c->refuse_status = 413;
            snprintf(c->refuse_msg, sizeof c->refuse_msg, "body too large: %llu bytes (the limit is %zu)",
                     n, s->cfg.max_body_bytes);
        }
    }
}

/* Queues resp (taking its body or stream) and logs it: cfg.log gets the status and the time
 * from the request's headers to its response being queued (for a stream, its start). */
static enum MHD_Result send_response(http_server *s, http_conn *c, struct MHD_Connection *mc,
                                     const http_request *req, http_response *resp)
{
    struct MHD_Response *r;
    int status = resp->status;
    int is_head = strcmp(req->method, MHD_HTTP_METHOD_HEAD) == 0;
    if (resp->stream_read && !is_head) {
        http_stream_ctx *x = xcalloc(1, sizeof *x);
        x->s = s;
        x->mhd = mc;
        x->fd = c->fd;
        x->read = resp->stream_read;
        x->release = resp->stream_free;
        x->stream = resp->stream;
        atomic_fetch_add(&s->nstreams, 1);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, stream_reader, x,
                                              stream_done);
        if (!r) stream_done(x);
        buf_free(&resp->body);
    } else {
        if (resp->stream_read) resp->stream_free(resp->stream); /* HEAD: the headers only */
        if (resp->etag && status == 200 &&
            etag_matches(MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH),
                         resp->etag)) {
            status = 304;
            buf_free(&resp->body);
        }
        if (resp->body.len > 0) {
            r = MHD_create_response_from_buffer(resp->body.len, resp->body.data, MHD_RESPMEM_MUST_FREE);
            if (r) resp->body = (buf){0};
        } else {
            r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        }
        buf_free(&resp->body);
    }
    if (!r) return MHD_NO;
    if (status != 304 && resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                            resp->cache_control ? resp->cache_control : "no-store");
    if (resp->etag) {
        size_t n = strlen(resp->etag);
        if (n >= 2 && resp->etag[0] == '"' && resp->etag[n - 1] == '"') {
            MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, resp->etag);
        } else {
            char *q = xasprintf("\"%s\"", resp->etag);
            MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, q);
            free(q);
        }
    }
    enum MHD_Result ok = MHD_queue_response(mc, (unsigned)status, r);
    MHD_destroy_response(r);
    if (s->cfg.log) s->cfg.log(s->app, req, status, (double)(util_mono_us() - c->t0_us) / 1000.0);
    return ok;
}

/* Answers status with {"error": msg} for a request the handler does not see. */
static enum MHD_Result refuse(http_server *s, http_conn *c, struct MHD_Connection *mc,
                              const http_request *req, int status, const char *msg)
{
    http_response resp = {.status = status, .content_type = "application/json"};
    http_response_error(&resp, status, "%s", msg);
    return send_response(s, c, mc, req, &resp);
}

/* The last call for a request: the body is in. Decodes, calls the handler, answers. */
static enum MHD_Result respond(http_server *s, http_conn *c, struct MHD_Connection *mc, const char *method)
{
    const char *raw = c->raw_uri ? c->raw_uri : "";
    http_request req = {.method = method, .path = raw, .body = "", .client = c->client,
                        .thread = thread_index(s)};
    httpq q = {0};
    char err[512];
    if (c->refuse_status) return refuse(s, c, mc, &req, c->refuse_status, c->refuse_msg);

    const char *qmark = strchr(raw, '?');
    size_t plen = qmark ? (size_t)(qmark - raw) : strlen(raw);
    char *rawpath = xstrndup(raw, plen);
    char *path = xmalloc(plen + 1);
    enum MHD_Result ok;
    if (httpq_path(rawpath, path, plen + 1, err, sizeof err) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "bad path '%.200s': %.500s", rawpath, err);
        ok = refuse(s, c, mc, &req, 400, msg);
        goto cleanup;
    }
    req.path = path;
    if (httpq_parse(&q, qmark ? qmark + 1 : "", qmark ? strlen(qmark + 1) : 0, err, sizeof err) != 0) {
        ok = refuse(s, c, mc, &req, 400, err);
        goto cleanup;
    }
    req.query = &q;
    req.authorization = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    req.last_event_id = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Last-Event-ID");
    if (c->body.len > 0) {
        buf_append(&c->body, "", 1); /* the terminator, not counted */
        req.body = (const char *)c->body.data;
        req.body_len = c->body.len - 1;
    }

    http_response resp = {.status = 200, .content_type = "application/json"};
    if (s->handler(s->app, &req, &resp) != 0) {
        if (resp.stream_read) resp.stream_free(resp.stream);
        resp.stream_read = NULL;
        resp.etag = NULL;
        resp.cache_control = NULL;
        http_response_error(&resp, 500, "internal error");
    }
    ok = send_response(s, c, mc, &req, &resp);
cleanup:
    httpq_free(&q);
    free(rawpath);
    free(path);
    buf_reset(&c->body);
    return ok;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls)
{
    (void)url, (void)version;
    http_server *s = cls;
    http_conn *c = conn_of(mc);
    if (!c) return MHD_NO;
    if (!*req_cls) {
        *req_cls = c;
        request_begin(s, c, mc, method);
        /* A declared body past the limit is not read: answer now (MHD then closes). */
        if (c->refuse_status == 413) {
            http_request req = {.method = method, .path = c->raw_uri ? c->raw_uri : "",
                                .body = "", .client = c->client, .thread = thread_index(s)};
            return refuse(s, c, mc, &req, 413, c->refuse_msg);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        c->body_seen += *upload_size;
        if (!c->refuse_status && c->body_seen > s->cfg.max_body_bytes) {
            /* A chunked body that grew past the limit: read on (discarding) to answer 413. */
            c->refuse_status = 413;
            snprintf(c->refuse_msg, sizeof c->refuse_msg, "body too large: more than %zu bytes",
                     s->cfg.max_body_bytes);
            buf_free(&c->body);
        }
        if (!c->refuse_status) buf_append(&c->body, upload, *upload_size);
        /* Past eight times the limit it is not worth reading on. */
        if (c->body_seen > 8 * s->cfg.max_body_bytes + 65536) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    return respond(s, c, mc, method);
}

/* Called with the raw URI before MHD decodes it in place; the return value is the request's
 * initial req_cls (NULL, so on_access knows its first call). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)cls;
    http_conn *c = conn_of(mc);
    if (c) {
        free(c->raw_uri);
        c->raw_uri = xstrdup(uri);
    }
    return NULL;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    (void)req_cls;
    http_conn *c = conn_of(mc);
    if (c && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) http_guard_request_done(s, c);
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        http_conn *c = xcalloc(1, sizeof *c);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        if (sa && sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, c->client,
                      sizeof c->client);
        else if (sa && sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, c->client,
                      sizeof c->client);
        else
            snprintf(c->client, sizeof c->client, "unknown");
        *socket_context = c;
        atomic_fetch_add(&s->nconns, 1);
        http_guard_conn_opened(s, c);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_conn *c = *socket_context;
        if (!c) return;
        http_guard_conn_closed(s, c);
        atomic_fetch_sub(&s->nconns, 1);
        free(c->raw_uri);
        buf_free(&c->body);
        free(c);
        *socket_context = NULL;
    }
}

/* ---- the server -------------------------------------------------------------------- */

/* MHD's per-connection memory: the request line and headers (parsed in place), the header
 * table, the response's headers and a stream's block. Past it MHD refuses with its own page. */
static size_t pool_bytes(const http_config *cfg)
{
    return 2 * cfg->max_request_bytes + (size_t)cfg->max_headers * 64 + HTTP_STREAM_BLOCK + 32768;
}

http_server *http_server_start(const http_config *cfg, http_handler *handler, void *app, char *err,
                               size_t errlen)
{
    http_server *s = xcalloc(1, sizeof *s);
    s->handler = handler;
    s->app = app;
    s->cfg = *cfg;
    http_config *c = &s->cfg;
    if (!c->listen) c->listen = "127.0.0.1:8080";
    if (c->threads <= 0) c->threads = 4;
    if (c->max_request_bytes == 0) c->max_request_bytes = 16 * 1024;
    if (c->max_headers <= 0) c->max_headers = 64;
    if (c->max_body_bytes == 0) c->max_body_bytes = 64 * 1024;
    if (c->header_timeout_ms <= 0) c->header_timeout_ms = 5000;
    if (c->idle_timeout_s <= 0) c->idle_timeout_s = 60;
    if (c->max_per_client <= 0) c->max_per_client = 64;
    int budget = http_guard_fd_budget();
    if (c->max_connections <= 0 || c->max_connections > budget) c->max_connections = budget;
    if (c->max_connections < c->threads) c->max_connections = c->threads;

    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->guard_cond, &ca);
    pthread_condattr_destroy(&ca);

    int fd = http_guard_listen(c->listen, err, errlen);
    if (fd < 0) goto fail;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (http_guard_start(s, err, errlen) != 0) {
        close(fd);
        goto fail;
    }
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
        on_access, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)c->max_per_client, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool_bytes(c), MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_END);
    if (!s->mhd) {
        util_err(err, errlen, "cannot serve on %s: libmicrohttpd would not start", c->listen);
        close(fd);
        goto fail;
    }
    return s;
fail:
    http_guard_stop(s);
    pthread_cond_destroy(&s->guard_cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_counts(const http_server *s, int *connections, int *streams)
{
    http_server *m = (http_server *)s; /* the counters are atomics: reading them writes nothing */
    if (connections) *connections = atomic_load(&m->nconns);
    if (streams) *streams = atomic_load(&m->nstreams);
}

void http_server_stop(http_server *s)
{
    if (!s) return;
    /* MHD must not be stopped with suspended connections: resume them all, and let no reader
     * park again (each now ends its stream, and MHD releases it as the connection closes). */
    http_resume_all(s, 1);
    MHD_stop_daemon(s->mhd);
    http_guard_stop(s);
    pthread_cond_destroy(&s->guard_cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
