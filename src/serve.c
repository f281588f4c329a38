/* serve: routing, per-thread database connections and metrics of `pgpulse serve` (serve.h). */
#include "serve.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "api.h"
#include "buf.h"
#include "http.h"
#include "serve_feed.h"
#include "sse.h"
#include "util.h"
#include "webassets.h"

#define SERVE_DEFAULT_THREADS 4

/* Request latency histogram buckets (seconds), Prometheus style (cumulative when printed). */
static const double serve_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1.0,  2.5};
#define SERVE_NBUCKETS (sizeof serve_buckets / sizeof serve_buckets[0])

struct serve {
    serve_opts o;
    char *conninfo, *consumer, *token;
    sse_hub *hub;
    serve_feed *feed;
    http_server *http;
    int threads;
    PGconn **conns;  /* one per pool thread, used only by that thread; NULL until first use */
    double started;  /* util_mono_us() / 1e6 at start */
    /* Metrics of answered requests (streams excluded from the latency histogram). */
    _Atomic uint64_t by_class[6];  /* 1xx..5xx, index 1..5 */
    _Atomic uint64_t hist[SERVE_NBUCKETS + 1];
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
    _Atomic uint64_t retries; /* reads asked again after a connection found closed */
};

static void serve_wake(void *arg)
{
    http_server_wake(arg);
}

/* The calling thread's connection, (re)connected as needed; NULL if the database is down. */
static PGconn *serve_conn(serve *s, int thread)
{
    if (thread < 0 || thread >= s->threads) return NULL;
    PGconn **c = &s->conns[thread];
    if (*c && PQstatus(*c) != CONNECTION_OK) {
        PQfinish(*c);
        *c = NULL;
    }
    if (!*c) {
        /* A database that is down costs a request at most connect_timeout. No JIT: the
         * planner's estimates over the learn tables' lateral probes pass jit_above_cost and
         * compiling took ~0.7 s of a statement that runs in 1 ms. */
        static const char *const keys[] = {"dbname", "connect_timeout", "application_name",
                                           "options", NULL};
        const char *const vals[] = {s->conninfo, "5", "pgpulse serve", "-c statement_timeout=10s -c jit=off",
                                    NULL};
        *c = PQconnectdbParams(keys, vals, 1);
    }
    return *c;
}

static void serve_log(void *app, const http_request *req, int status, double ms)
{
    serve *s = app;
    int cls = status / 100;
    if (cls >= 1 && cls <= 5) atomic_fetch_add(&s->by_class[cls], 1);
    if (strcmp(req->path, "/api/stream") == 0) return; /* its duration is the connection's */
    size_t b = 0;
    while (b < SERVE_NBUCKETS && ms / 1000.0 > serve_buckets[b]) b++;
    atomic_fetch_add(&s->hist[b], 1);
    atomic_fetch_add(&s->sum_us, (uint64_t)(ms * 1000.0));
    atomic_fetch_add(&s->count, 1);
    if (status >= 500 && !s->o.quiet)
        fprintf(stderr, "pgpulse serve: %s %s from %s: %d (%.1f ms)\n", req->method, req->path,
                req->client, status, ms);
}

static int serve_stream(serve *s, const http_request *req, http_response *resp)
{
    static const char *const names[] = {"last_event_id"};
    char err[256];
    if (httpq_only(req->query, names, 1, err, sizeof err)) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    const char *last = req->last_event_id ? req->last_event_id
                                          : httpq_get(req->query, "last_event_id");
    sse_client *c = sse_client_new(s->hub, last);
    http_response_stream(resp, "text/event-stream", sse_client_read, sse_client_free, c);
    return 0;
}

static int serve_fleet(serve *s, const http_request *req, http_response *resp)
{
    char err[256];
    if (httpq_only(req->query, NULL, 0, err, sizeof err)) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    char *j = serve_feed_fleet(s->feed);
    buf_append(&resp->body, j, strlen(j));
    free(j);
    return 0;
}

/* One gauge per element of a JSON object of numbers: name{label="key"} value. */
static void serve_metric_object(buf *b, const char *name, const char *label, json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (json_is_number(v))
            buf_printf(b, "%s{%s=\"%s\"} %.17g\n", name, label, k, json_number_value(v));
    }
}

static void serve_metrics_fleet(serve *s, buf *b)
{
    char *j = serve_feed_fleet(s->feed);
    json_t *f = json_loads(j, 0, NULL);
    free(j);
    if (!f) return;
    json_t *v = json_object_get(f, "rows_per_s");
    buf_printf(b, "# HELP pgpulse_ingest_rows_per_second Readings ingested per second (last seconds).\n"
                  "# TYPE pgpulse_ingest_rows_per_second gauge\n");
    buf_printf(b, "pgpulse_ingest_rows_per_second %.17g\n", json_is_number(v) ? json_number_value(v) : 0.0);
    buf_printf(b, "# HELP pgpulse_robots Robots by state.\n# TYPE pgpulse_robots gauge\n");
    serve_metric_object(b, "pgpulse_robots", "state", json_object_get(f, "robots"));
    buf_printf(b, "# HELP pgpulse_episodes_open Open anomaly episodes by level.\n"
                  "# TYPE pgpulse_episodes_open gauge\n");
    serve_metric_object(b, "pgpulse_episodes_open", "level", json_object_get(f, "episodes_open"));
    json_t *stages = json_object_get(f, "stages");
    buf_printf(b, "# HELP pgpulse_stage_lag_seconds How far each stage of the consumer is behind.\n"
                  "# TYPE pgpulse_stage_lag_seconds gauge\n");
    size_t i;
    json_t *st;
    json_array_foreach(stages, i, st)
    {
        json_t *name = json_object_get(st, "name"), *lag = json_object_get(st, "lag_s");
        if (json_is_string(name) && json_is_number(lag))
            buf_printf(b, "pgpulse_stage_lag_seconds{stage=\"%s\"} %.17g\n", json_string_value(name),
                       json_number_value(lag));
    }
    buf_printf(b, "# HELP pgpulse_stage_rows_total Rows each stage of the consumer has consumed.\n"
                  "# TYPE pgpulse_stage_rows_total counter\n");
    json_array_foreach(stages, i, st)
    {
        json_t *name = json_object_get(st, "name"), *rows = json_object_get(st, "rows");
        if (json_is_string(name) && json_is_number(rows))
            buf_printf(b, "pgpulse_stage_rows_total{stage=\"%s\"} %.17g\n", json_string_value(name),
                       json_number_value(rows));
    }
    json_decref(f);
}

static int serve_metrics(serve *s, const http_request *req, http_response *resp)
{
    char err[256];
    if (httpq_only(req->query, NULL, 0, err, sizeof err)) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    buf *b = &resp->body;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    serve_metrics_fleet(s, b);
    int clients = 0, conns = 0, streams = 0;
    uint64_t newest = 0, stmts = 0, notes = 0, reconn = 0;
    sse_hub_counts(s->hub, &clients, &newest);
    http_server_counts(s->http, &conns, &streams);
    serve_feed_counts(s->feed, &stmts, &notes, &reconn);
    buf_printf(b, "# HELP pgpulse_sse_clients Clients connected to /api/stream.\n"
                  "# TYPE pgpulse_sse_clients gauge\npgpulse_sse_clients %d\n", clients);
    buf_printf(b, "# HELP pgpulse_sse_events_total Events published to /api/stream.\n"
                  "# TYPE pgpulse_sse_events_total counter\npgpulse_sse_events_total %llu\n",
               (unsigned long long)newest);
    buf_printf(b, "# HELP pgpulse_http_connections Open HTTP connections.\n"
                  "# TYPE pgpulse_http_connections gauge\npgpulse_http_connections %d\n", conns);
    buf_printf(b, "# HELP pgpulse_feed_statements_total Statements the live feed ran (one listener for every client).\n"
                  "# TYPE pgpulse_feed_statements_total counter\npgpulse_feed_statements_total %llu\n",
               (unsigned long long)stmts);
    buf_printf(b, "# HELP pgpulse_feed_notifications_total Notifications the live feed received.\n"
                  "# TYPE pgpulse_feed_notifications_total counter\npgpulse_feed_notifications_total %llu\n",
               (unsigned long long)notes);
    buf_printf(b, "# HELP pgpulse_feed_reconnects_total Times the live feed reconnected.\n"
                  "# TYPE pgpulse_feed_reconnects_total counter\npgpulse_feed_reconnects_total %llu\n",
               (unsigned long long)reconn);
    buf_printf(b, "# HELP pgpulse_db_retries_total API reads asked again on a new connection after the old one was found closed.\n"
                  "# TYPE pgpulse_db_retries_total counter\npgpulse_db_retries_total %llu\n",
               (unsigned long long)atomic_load(&s->retries));
    buf_printf(b, "# HELP pgpulse_http_requests_total Answered requests by status class.\n"
                  "# TYPE pgpulse_http_requests_total counter\n");
    for (int c = 1; c <= 5; c++)
        buf_printf(b, "pgpulse_http_requests_total{code=\"%dxx\"} %llu\n", c,
                   (unsigned long long)atomic_load(&s->by_class[c]));
    buf_printf(b, "# HELP pgpulse_http_request_duration_seconds Time to answer a request (streams excluded).\n"
                  "# TYPE pgpulse_http_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < SERVE_NBUCKETS; i++) {
        cum += atomic_load(&s->hist[i]);
        buf_printf(b, "pgpulse_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                   serve_buckets[i], (unsigned long long)cum);
    }
    cum += atomic_load(&s->hist[SERVE_NBUCKETS]);
    buf_printf(b, "pgpulse_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
               (unsigned long long)cum);
    buf_printf(b, "pgpulse_http_request_duration_seconds_sum %.6f\n",
               (double)atomic_load(&s->sum_us) / 1e6);
    buf_printf(b, "pgpulse_http_request_duration_seconds_count %llu\n",
               (unsigned long long)atomic_load(&s->count));
    buf_printf(b, "# HELP pgpulse_uptime_seconds Seconds since the server started.\n"
                  "# TYPE pgpulse_uptime_seconds gauge\npgpulse_uptime_seconds %.0f\n",
               (double)util_mono_us() / 1e6 - s->started);
    return 0;
}

static int serve_static(const http_request *req, http_response *resp)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_response_error(resp, 405, "%s %s: the dashboard's files are read with GET",
                            req->method, req->path);
        return 0;
    }
    const webasset *a = webasset_find(req->path);
    if (!a) {
        http_response_error(resp, 404, "%s: no such page or file", req->path);
        return 0;
    }
    resp->content_type = a->content_type;
    resp->cache_control = "no-cache"; /* revalidated by ETag: a new build is seen at once */
    resp->etag = a->etag;
    buf_append(&resp->body, a->data, a->len);
    return 0;
}

static int serve_handle(void *app, const http_request *req, http_response *resp)
{
    serve *s = app;
    int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (strcmp(req->path, "/api/stream") == 0 || strcmp(req->path, "/api/fleet") == 0 ||
        strcmp(req->path, "/metrics") == 0) {
        if (!get) {
            http_response_error(resp, 405, "%s %s: only GET", req->method, req->path);
            return 0;
        }
        if (req->path[1] == 'm') return serve_metrics(s, req, resp);
        if (req->path[5] == 's') return serve_stream(s, req, resp);
        return serve_fleet(s, req, resp);
    }
    if (strncmp(req->path, "/api/", 5) == 0 || strcmp(req->path, "/api") == 0) {
        api_ctx ctx = {.conn = serve_conn(s, req->thread),
                       .consumer = s->consumer,
                       .token = s->token,
                       .started = s->started};
        int had = ctx.conn && PQstatus(ctx.conn) == CONNECTION_OK;
        int rc = api_handle(&ctx, req, resp);
        /* A connection the server closed while it was idle (a restart, pg_terminate_backend) is
         * found broken only by the statement that uses it. A read is asked once more on a new
         * connection, so a database that is back answers at once, on every pool thread. A write
         * (POST) is not: it may have been done. */
        if (rc == 0 && get && had && resp->status == 503 && !resp->stream_read &&
            PQstatus(ctx.conn) == CONNECTION_BAD) {
            atomic_fetch_add(&s->retries, 1);
            buf_reset(&resp->body);
            *resp = (http_response){.status = 200, .content_type = "application/json",
                                    .body = resp->body};
            ctx.conn = serve_conn(s, req->thread);
            rc = api_handle(&ctx, req, resp);
        }
        return rc;
    }
    return serve_static(req, resp);
}

serve *serve_start(const serve_opts *o, char *err, size_t errlen)
{
    serve *s = xcalloc(1, sizeof *s);
    s->o = *o;
    s->conninfo = xstrdup(o->conninfo);
    s->consumer = xstrdup(o->consumer);
    s->token = o->token && *o->token ? xstrdup(o->token) : NULL;
    s->threads = o->threads > 0 ? o->threads : SERVE_DEFAULT_THREADS;
    s->conns = xcalloc((size_t)s->threads, sizeof *s->conns);
    s->started = (double)util_mono_us() / 1e6;
    s->hub = sse_hub_new(NULL, NULL);
    s->feed = serve_feed_start(s->conninfo, s->consumer, s->hub, err, errlen);
    if (!s->feed) {
        serve_stop(s);
        return NULL;
    }
    http_config cfg = {.listen = o->listen,
                       .threads = s->threads,
                       .max_per_client = o->max_per_client,
                       .log = serve_log};
    s->http = http_server_start(&cfg, serve_handle, s, err, errlen);
    if (!s->http) {
        serve_stop(s);
        return NULL;
    }
    sse_hub_set_wake(s->hub, serve_wake, s->http);
    return s;
}

int serve_port(const serve *s)
{
    return http_server_port(s->http);
}

void serve_stop(serve *s)
{
    if (!s) return;
    if (s->hub) sse_hub_set_wake(s->hub, NULL, NULL);
    http_server_stop(s->http); /* every stream's client is freed here */
    serve_feed_stop(s->feed);
    sse_hub_free(s->hub);
    for (int i = 0; i < s->threads; i++) PQfinish(s->conns[i]);
    free(s->conns);
    free(s->conninfo);
    free(s->consumer);
    free(s->token);
    free(s);
}
