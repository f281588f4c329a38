/* serve_feed: the one database listener behind the live push (see serve_feed.h). This file is
 * the thread and its connection: connecting without blocking a stop, LISTEN, the wait on the
 * socket, a wake pipe and the next fleet tick, the reconnection with backoff, and the public
 * API. What each kind of event queries and publishes is in serve_feed_query.c.
 *
 * The thread waits with poll() on the connection's socket and on a pipe that serve_feed_stop
 * writes to, with a timeout to the next 1-second fleet tick. Statements are sent asynchronously
 * and their results awaited the same way, so a stop is noticed within a poll() whatever the
 * thread is doing (waiting, querying, connecting or backing off). */
#include "serve_feed.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "pgconn.h"
#include "serve_feed_int.h"
#include "util.h"

#define FEED_TICK_US INT64_C(1000000)      /* fleet every second */
#define FEED_BACKOFF_FIRST_MS 1000         /* reconnect backoff: 1 s doubling ... */
#define FEED_BACKOFF_MAX_MS 30000          /* ... to 30 s */
#define FEED_APP "pgpulse-serve-feed"      /* application_name of the feed's connection */
#define FEED_CHANNEL_LIVE "pgpulse_live"
#define FEED_CHANNEL_ANOMALY "pgpulse_anomaly"

/* Writes to the wake pipe (never blocks: a full pipe is already a wake-up). */
static void feed_wake(serve_feed *f)
{
    ssize_t w;
    do w = write(f->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
}

/* Waits for the socket (events; fd < 0: none) or the wake pipe, at most timeout_ms (-1: no
 * limit). Returns FEED_STOP when a stop was asked, else the socket's revents (0 on timeout). */
static int feed_poll(serve_feed *f, int fd, short events, int timeout_ms)
{
    for (;;) {
        if (atomic_load(&f->stopping)) return FEED_STOP;
        struct pollfd p[2] = {{f->wake[0], POLLIN, 0}, {fd, events, 0}};
        int n = poll(p, fd >= 0 ? 2 : 1, timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        if (atomic_load(&f->stopping) || (n > 0 && p[0].revents)) return FEED_STOP;
        return n > 0 && fd >= 0 ? p[1].revents : 0;
    }
}

void feed_log(serve_feed *f, const char *fmt, ...)
{
    (void)f;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "pgpulse: serve: live feed: %s\n", msg);
}

static void feed_notice(void *arg, const PGresult *r)
{
    (void)arg;
    (void)r; /* LISTEN and SELECT raise none worth showing */
}

/* Connects as pgconn_connect does (application_name, TCP keepalives; the conninfo's own
 * settings win), but without blocking a stop: PQconnectPoll over feed_poll. Returns NULL with
 * a message (secrets redacted), or NULL with FEED_STOP in *stopped when a stop was asked. */
static PGconn *feed_connect(serve_feed *f, int *stopped, char *err, size_t errlen)
{
    *stopped = 0;
    const char *kw[] = {"application_name", "keepalives",       "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "dbname", NULL};
    const char *val[] = {FEED_APP, "1", "60", "10", "6", f->conninfo, NULL};
    PGconn *c = PQconnectStartParams(kw, val, 1);
    if (!c) {
        util_err(err, errlen, "out of memory connecting");
        return NULL;
    }
    PostgresPollingStatusType st = PQstatus(c) == CONNECTION_BAD ? PGRES_POLLING_FAILED
                                                                 : PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int rc = feed_poll(f, PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, -1);
        if (rc == FEED_STOP) {
            *stopped = 1;
            PQfinish(c);
            util_err(err, errlen, "stopped");
            return NULL;
        }
        st = PQconnectPoll(c);
    }
    if (st == PGRES_POLLING_FAILED) {
        pgconn_connect_error(c, f->conninfo, err, errlen);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeReceiver(c, feed_notice, NULL);
    return c;
}

int feed_query(serve_feed *f, const char *sql, int nparams, const char *const *params,
               ExecStatusType expect, PGresult **out, char *err, size_t errlen)
{
    PGconn *c = f->conn;
    *out = NULL;
    atomic_fetch_add(&f->statements, 1);
    int sent = nparams < 0 ? PQsendQuery(c, sql)
                           : PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!sent) {
        pgconn_result_error(NULL, c, err, errlen);
        return PGCONN_LOST; /* nothing could be sent: the connection is gone or unusable */
    }
    /* Each result (one per statement of a simple query); the last is kept, the first failure
     * decides. */
    PGresult *last = NULL, *failed = NULL;
    for (;;) {
        while (PQisBusy(c)) {
            int ev = feed_poll(f, PQsocket(c), POLLIN, -1);
            if (ev == FEED_STOP) {
                PQclear(last);
                PQclear(failed);
                return FEED_STOP;
            }
            if (!PQconsumeInput(c)) break; /* PQgetResult reports the failure */
        }
        PGresult *r = PQgetResult(c);
        if (!r) break;
        ExecStatusType s = PQresultStatus(r);
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && !failed) {
            failed = r;
        } else if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
            PQclear(last);
            last = r;
        } else {
            PQclear(r);
        }
        if (PQstatus(c) == CONNECTION_BAD && !PQisBusy(c)) {
            /* libpq returns the error, then NULL; do not wait on a dead socket */
            PGresult *rest;
            while ((rest = PQgetResult(c))) PQclear(rest);
            break;
        }
    }
    if (failed || !last || PQresultStatus(last) != expect) {
        int lost = failed ? pgconn_result_lost(c, failed) : PQstatus(c) == CONNECTION_BAD;
        if (failed)
            pgconn_result_error(failed, c, err, errlen);
        else if (lost)
            pgconn_result_error(NULL, c, err, errlen);
        else
            util_err(err, errlen, "unexpected result %s", last ? PQresStatus(PQresultStatus(last)) : "none");
        PQclear(failed);
        PQclear(last);
        return lost ? PGCONN_LOST : -1;
    }
    *out = last;
    return 0;
}

/* The consumer a notification's payload names, compared with ours: 1 when it is ours or the
 * payload names none (or cannot be read: querying once too often is harmless). */
static int feed_payload_ours(const serve_feed *f, const char *payload)
{
    json_t *j = json_loads(payload, 0, NULL);
    const char *c = j ? json_string_value(json_object_get(j, "consumer")) : NULL;
    int ours = !c || strcmp(c, f->consumer) == 0;
    json_decref(j);
    return ours;
}

/* Takes every notification libpq holds: a live commit (any consumer's: live_robot is shared)
 * asks for the robots query, an anomaly of our consumer for the anomaly query. */
static void feed_drain(serve_feed *f)
{
    PGnotify *n;
    while ((n = PQnotifies(f->conn))) {
        atomic_fetch_add(&f->notifications, 1);
        if (!strcmp(n->relname, FEED_CHANNEL_LIVE))
            f->want_robots = 1;
        else if (!strcmp(n->relname, FEED_CHANNEL_ANOMALY) && feed_payload_ours(f, n->extra))
            f->want_anomaly = 1;
        PQfreemem(n);
    }
}

/* A new connection: LISTEN on both channels and whether commit timestamps are kept, in one
 * round trip. */
static int feed_setup(serve_feed *f, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc = feed_query(f,
                        "LISTEN " FEED_CHANNEL_LIVE "; LISTEN " FEED_CHANNEL_ANOMALY
                        "; SELECT current_setting('track_commit_timestamp') = 'on'",
                        -1, NULL, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    f->commit_ts = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

/* Drops the connection and announces it (a `fleet` saying the database is unreachable). */
static void feed_lost(serve_feed *f, const char *why)
{
    feed_log(f, "connection lost (%s); reconnecting", why);
    PQfinish(f->conn);
    f->conn = NULL;
    feed_publish_fleet(f, 0);
    f->next_tick = util_mono_us() + FEED_TICK_US;
}

/* Waits ms milliseconds, publishing the last fleet figures (marked unreachable) every second
 * so that idle clients stay connected. Returns FEED_STOP when a stop was asked. */
static int feed_backoff(serve_feed *f, int ms)
{
    int64_t end = util_mono_us() + (int64_t)ms * 1000;
    for (;;) {
        int64_t now = util_mono_us();
        if (now >= end) return 0;
        if (now >= f->next_tick) {
            feed_publish_fleet(f, 0);
            f->next_tick = now + FEED_TICK_US;
        }
        int64_t until = end < f->next_tick ? end : f->next_tick;
        if (feed_poll(f, -1, 0, (int)((until - now + 999) / 1000)) == FEED_STOP) return FEED_STOP;
    }
}

/* One turn of the connected loop: wait for a notification, the next tick or a stop, then run
 * what is due. Returns 0, FEED_STOP, or an error (the connection is to be dropped). */
static int feed_turn(serve_feed *f, char *err, size_t errlen)
{
    feed_drain(f);
    int64_t now = util_mono_us();
    int64_t until = f->next_tick;
    if (f->want_anomaly) until = now;
    if (f->want_robots) {
        int64_t at = f->last_robots + FEED_ROBOTS_GAP_US;
        if (at < until) until = at;
    }
    int timeout = until <= now ? 0 : (int)((until - now + 999) / 1000);
    int ev = feed_poll(f, PQsocket(f->conn), POLLIN, timeout);
    if (ev == FEED_STOP) return FEED_STOP;
    if (ev) {
        if (!PQconsumeInput(f->conn) || PQstatus(f->conn) == CONNECTION_BAD) {
            pgconn_result_error(NULL, f->conn, err, errlen);
            return PGCONN_LOST;
        }
        feed_drain(f);
    }
    now = util_mono_us();
    int rc = 0;
    if (f->want_robots && now >= f->last_robots + FEED_ROBOTS_GAP_US) {
        f->want_robots = 0;
        f->last_robots = now;
        if ((rc = feed_robots(f, 1, err, errlen))) return rc;
    }
    if (now >= f->next_tick) {
        f->next_tick += FEED_TICK_US;
        if (f->next_tick <= now) f->next_tick = now + FEED_TICK_US; /* fell behind: no burst */
        if ((rc = feed_fleet(f, err, errlen))) return rc;
    }
    if (f->want_anomaly) {
        f->want_anomaly = 0;
        if ((rc = feed_anomaly(f, 1, err, errlen))) return rc;
    }
    return 0;
}

static void *feed_main(void *arg)
{
    serve_feed *f = arg;
    char err[1024];
    int backoff = FEED_BACKOFF_FIRST_MS;
    for (;;) {
        if (!f->conn) {
            if (feed_backoff(f, backoff) == FEED_STOP) break;
            backoff = backoff * 2 > FEED_BACKOFF_MAX_MS ? FEED_BACKOFF_MAX_MS : backoff * 2;
            int stopped = 0;
            f->conn = feed_connect(f, &stopped, err, sizeof err);
            if (stopped) break;
            if (!f->conn) {
                feed_log(f, "cannot connect (%s); next try in %d s", err, backoff / 1000);
                continue;
            }
            /* What changed while the connection was down, from the watermarks. */
            int rc = feed_setup(f, err, sizeof err);
            if (!rc) atomic_fetch_add(&f->reconnects, 1);
            if (!rc) rc = feed_robots(f, 1, err, sizeof err);
            if (!rc) rc = feed_anomaly(f, 1, err, sizeof err);
            if (!rc) rc = feed_fleet(f, err, sizeof err);
            if (rc == FEED_STOP) break;
            if (rc) {
                feed_lost(f, err);
                continue;
            }
            f->last_robots = util_mono_us();
            f->next_tick = f->last_robots + FEED_TICK_US;
            backoff = FEED_BACKOFF_FIRST_MS;
            feed_log(f, "reconnected");
        }
        int rc = feed_turn(f, err, sizeof err);
        if (rc == FEED_STOP) break;
        if (rc) feed_lost(f, err); /* a failing statement too: retried after the backoff */
    }
    return NULL;
}

serve_feed *serve_feed_start(const char *conninfo, const char *consumer, sse_hub *hub, char *err,
                             size_t errlen)
{
    serve_feed *f = xcalloc(1, sizeof *f);
    f->conninfo = xstrdup(conninfo ? conninfo : "");
    f->consumer = xstrdup(consumer ? consumer : "");
    f->hub = hub;
    f->wake[0] = f->wake[1] = -1;
    f->anomaly_mark = INT64_MIN;
    pthread_mutex_init(&f->mu, NULL);
    if (pipe(f->wake) != 0) {
        util_err(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(f->wake[i], F_SETFD, FD_CLOEXEC);
        fcntl(f->wake[i], F_SETFL, fcntl(f->wake[i], F_GETFL) | O_NONBLOCK);
    }
    int stopped;
    f->conn = feed_connect(f, &stopped, err, errlen);
    if (!f->conn) goto fail;
    /* LISTEN first: a change committed from here on is notified; then the baselines (what the
     * live tables and the anomaly table hold now, not published) and the first fleet. */
    if (feed_setup(f, err, errlen) || feed_robots(f, 0, err, errlen) ||
        feed_anomaly(f, 0, err, errlen) || feed_fleet(f, err, errlen))
        goto fail;
    f->last_robots = util_mono_us();
    f->next_tick = f->last_robots + FEED_TICK_US;
    if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
        util_err(err, errlen, "cannot start the live feed's thread");
        goto fail;
    }
    return f;
fail:
    PQfinish(f->conn);
    f->conn = NULL;
    feed_free(f);
    return NULL;
}

char *serve_feed_fleet(serve_feed *f)
{
    pthread_mutex_lock(&f->mu);
    char *s = xstrdup(f->fleet ? f->fleet : "{}");
    pthread_mutex_unlock(&f->mu);
    return s;
}

void serve_feed_counts(serve_feed *f, uint64_t *statements, uint64_t *notifications,
                       uint64_t *reconnects)
{
    if (statements) *statements = atomic_load(&f->statements);
    if (notifications) *notifications = atomic_load(&f->notifications);
    if (reconnects) *reconnects = atomic_load(&f->reconnects);
}

void serve_feed_stop(serve_feed *f)
{
    if (!f) return;
    atomic_store(&f->stopping, 1);
    feed_wake(f);
    pthread_join(f->thread, NULL);
    PQfinish(f->conn);
    f->conn = NULL;
    feed_free(f);
}
