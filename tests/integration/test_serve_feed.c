/* Integration tests of the live feed (serve_feed) against a real PostgreSQL and a real consumer
 * (`pgpulse consume --stages live,detect`): a committed reading reaches an SSE client as a
 * `robots` event within a second naming only the robots that changed; an episode of the
 * consumer reaches it as an `anomaly` event (and one of another consumer does not), and so
 * does its growth, which no NOTIFY announces; `fleet` comes every second with the figures; the
 * statements the feed runs depend on the notifications and the time, not on the number of
 * clients; a terminated backend is reconnected to and nothing committed meanwhile is missed;
 * a stop during the backoff returns at once. The feed logs in as the dashboard's reader. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "harness.h"
#include "serve_feed.h"
#include "sse.h"
#include "tstamp.h"
#include "util.h"

#define CONSUMER "pipeline"
#define READER "pgpulse_web"

/* What every test shares: one database, one consumer, one hub. */
static struct {
    const char *db;      /* the owner's conninfo */
    char reader[1024];   /* the reader login's conninfo */
    PGconn *conn;        /* the owner's connection (inserts) */
    int consumer;        /* pid of `pgpulse consume` */
    char *log;           /* its output */
    int64_t ts;          /* the next reading's time (µs), increasing */
} fx;

/* One SSE client and the bytes it has read but not yet split into events. */
typedef struct reader {
    sse_client *c;
    buf acc;
} reader;

/* An event as the client received it. */
typedef struct event {
    char type[32];
    json_t *data; /* NULL if the data was not JSON */
} event;

static void event_clear(event *e)
{
    json_decref(e->data);
    memset(e, 0, sizeof *e);
}

/* The next event within timeout_ms; returns 0 when none came. */
static int next_event(reader *r, int timeout_ms, event *e)
{
    int64_t deadline = util_mono_us() + (int64_t)timeout_ms * 1000;
    memset(e, 0, sizeof *e);
    for (;;) {
        char chunk[65536];
        ssize_t n;
        while ((n = sse_client_read(r->c, chunk, sizeof chunk)) > 0) buf_append(&r->acc, chunk, (size_t)n);
        const char *s = (const char *)r->acc.data;
        const char *end = r->acc.len ? memmem(s, r->acc.len, "\n\n", 2) : NULL;
        if (end) {
            char *text = xstrndup(s, (size_t)(end - s));
            size_t used = (size_t)(end - s) + 2;
            memmove(r->acc.data, r->acc.data + used, r->acc.len - used);
            r->acc.len -= used;
            for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                if (!strncmp(line, "event: ", 7)) snprintf(e->type, sizeof e->type, "%s", line + 7);
                if (!strncmp(line, "data: ", 6)) e->data = json_loads(line + 6, 0, NULL);
            }
            free(text);
            return 1;
        }
        if (util_mono_us() >= deadline) return 0;
        util_sleep_ms(2);
    }
}

typedef int event_match(const json_t *data, const void *arg);

/* Waits (up to timeout_ms) for an event of this type that match accepts (NULL: any); fails the
 * test otherwise. Other events are passed over; *skipped, if not NULL, counts those of type. */
static void wait_event(reader *r, const char *type, event_match *match, const void *arg,
                       int timeout_ms, event *out, int *skipped)
{
    int64_t deadline = util_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int64_t left = (deadline - util_mono_us()) / 1000;
        if (left < 0 || !next_event(r, (int)left, out)) fail_msg("no matching `%s` event within %d ms", type, timeout_ms);
        if (!strcmp(out->type, type)) {
            assert_non_null(out->data);
            if (!match || match(out->data, arg)) return;
            if (skipped) (*skipped)++;
        }
        event_clear(out);
    }
}

static void reader_open(reader *r, sse_hub *hub)
{
    memset(r, 0, sizeof *r);
    r->c = sse_client_new(hub, NULL);
}

static void reader_close(reader *r)
{
    sse_client_free(r->c);
    buf_free(&r->acc);
}

/* Inserts one reading for each robot in ids (axis1 = value, the others 1), in one transaction,
 * at the next reading time; returns that time. */
static int64_t insert_readings(const int *ids, int n, double value)
{
    int64_t ts = fx.ts;
    fx.ts += 10000;
    buf sql = {0};
    buf_puts(&sql, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8) VALUES ");
    for (int i = 0; i < n; i++)
        buf_printf(&sql, "%s(%d, timestamptz 'epoch' + %lld * interval '1 microsecond', %.17g, 1, 1, 1, 1, 1, 1, 1)",
                   i ? "," : "", ids[i], (long long)ts, value);
    buf_append(&sql, "", 1);
    harness_exec(fx.conn, (const char *)sql.data);
    buf_free(&sql);
    return ts;
}

/* A `robots` event naming exactly the robots of arg (a NUL-terminated int list, 0 ends). */
static int robots_are(const json_t *data, const void *arg)
{
    const int *ids = arg;
    const json_t *list = json_object_get(data, "robots");
    size_t n = 0;
    while (ids[n]) n++;
    if (json_array_size(list) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_object_get(json_array_get(list, i), "id")) != ids[i]) return 0;
    return 1;
}

static int anomaly_is(const json_t *data, const void *arg)
{
    return json_integer_value(json_object_get(data, "id")) == *(const int64_t *)arg;
}

static int anomaly_closed(const json_t *data, const void *arg)
{
    return anomaly_is(data, arg) && json_is_false(json_object_get(data, "open"));
}

static int fleet_unreachable(const json_t *data, const void *arg)
{
    (void)arg;
    return !strcmp(json_string_value(json_object_get(data, "database")), "unreachable");
}

/* An open ALERT episode of consumer on robot 1, announced as the detect stage does (the NOTIFY
 * in the same transaction, or none when notify is 0). Returns its id. */
static int64_t insert_episode(const char *consumer, int notify)
{
    harness_exec(fx.conn, "BEGIN");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO anomaly (consumer, robot_id, axis, level, ts_first, ts_start, ts_end, "
             "peak_score, peak_z, detector, readings, open) VALUES ('%s', 1, 2, 'ALERT', "
             "clock_timestamp(), clock_timestamp(), clock_timestamp(), 0.875, 5.5, 'regress', 3, "
             "true) RETURNING id",
             consumer);
    int64_t id = harness_query_int(fx.conn, sql);
    if (notify) {
        snprintf(sql, sizeof sql,
                 "SELECT pg_notify('pgpulse_anomaly', '{\"consumer\":\"%s\",\"anomalies\":[],\"count\":1}')",
                 consumer);
        harness_exec(fx.conn, sql);
    }
    harness_exec(fx.conn, "COMMIT");
    return id;
}

/* The pid of the feed's backend. */
static int feed_backend(void)
{
    return (int)harness_query_int(fx.conn, "SELECT pid FROM pg_stat_activity WHERE application_name = "
                                           "'pgpulse-serve-feed' AND datname = current_database() "
                                           "ORDER BY backend_start DESC LIMIT 1");
}

static int group_setup(void **state)
{
    (void)state;
    fx.db = harness_db("serve_feed", 1);
    if (!fx.db) return 0;
    const char *home = getenv("PGPULSE_TEST_HOME");
    char *portfile = xasprintf("%s/port", home);
    char *port = harness_read_file(portfile);
    snprintf(fx.reader, sizeof fx.reader,
             "host=127.0.0.1 port=%d user=" READER " dbname=test_serve_feed passfile=%s/pgpass",
             atoi(port), home);
    free(port);
    free(portfile);
    fx.conn = harness_connect(fx.db);
    harness_exec(fx.conn, "INSERT INTO robot (robot_id, name) SELECT g, 'r' || g FROM generate_series(1, 6) g");
    fx.ts = (util_now_us() / 1000000) * 1000000 - 2 * INT64_C(1000000); /* recent: running */
    fx.log = xasprintf("%s/consume.log", harness_tmpdir());
    fx.consumer = harness_spawn(NULL, fx.log,
                                (const char *[]){"consume", "--db", fx.db, "--stages", "live,detect",
                                                 "--name", CONSUMER, "--status-every", "0", NULL});
    harness_wait_slot(fx.conn, CONSUMER);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!fx.db) return 0;
    kill(fx.consumer, SIGINT);
    int st = harness_wait(fx.consumer, NULL);
    if (st != 0) {
        char *text = harness_read_file(fx.log);
        fprintf(stderr, "consumer exited %d:\n%s\n", st, text);
        free(text);
    }
    PQfinish(fx.conn);
    free(fx.log);
    return 0;
}

static serve_feed *start_feed(sse_hub *hub)
{
    char err[512];
    serve_feed *f = serve_feed_start(fx.reader, CONSUMER, hub, err, sizeof err);
    if (!f) fail_msg("serve_feed_start: %s", err);
    return f;
}

/* A commit reaches the client as one `robots` event within a second, naming the robots that
 * changed and only those, with their values, the consumer's state and the times. */
static void test_robots(void **state)
{
    (void)state;
    if (!fx.db) skip();
    sse_hub *hub = sse_hub_new(NULL, NULL);
    serve_feed *f = start_feed(hub);
    reader r;
    reader_open(&r, hub);
    char *setting = harness_query_text(fx.conn, "SHOW track_commit_timestamp");
    int commit_ts = !strcmp(setting, "on");
    free(setting);

    event e;
    int64_t t0 = util_mono_us();
    int64_t ts = insert_readings((const int[]){1, 2}, 2, 1.5);
    wait_event(&r, "robots", robots_are, (const int[]){1, 2, 0}, 5000, &e, NULL);
    int64_t took = util_mono_us() - t0;
    print_message("commit to robots event: %.1f ms\n", (double)took / 1000);
    assert_true(took < 1000000);
    const json_t *r1 = json_array_get(json_object_get(e.data, "robots"), 0);
    assert_string_equal(json_string_value(json_object_get(r1, "state")), "running");
    assert_int_equal(json_array_size(json_object_get(r1, "axes")), 8);
    assert_true(json_real_value(json_array_get(json_object_get(r1, "axes"), 0)) == 1.5);
    char want[64];
    time_t sec = (time_t)(ts / 1000000);
    strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S.000000Z", gmtime(&sec));
    assert_string_equal(json_string_value(json_object_get(r1, "ts")), want);
    assert_true(json_object_get(r1, "band") != NULL); /* null until the detector is warm */
    assert_true(json_is_string(json_object_get(e.data, "published")));
    if (commit_ts) {
        /* The loader's commit, before the event was made, and less than a second before. */
        const char *c = json_string_value(json_object_get(e.data, "commit"));
        const char *p = json_string_value(json_object_get(e.data, "published"));
        assert_non_null(c);
        int64_t cu, pu;
        assert_int_equal(tstamp_parse(c, strlen(c), TSTAMP_ZONE_REQUIRED, &cu), TSTAMP_OK);
        assert_int_equal(tstamp_parse(p, strlen(p), TSTAMP_ZONE_REQUIRED, &pu), TSTAMP_OK);
        print_message("commit to published: %.1f ms\n", (double)(pu - cu) / 1000);
        assert_true(cu <= pu && pu - cu < 1000000);
    } else
        assert_true(json_is_null(json_object_get(e.data, "commit")));
    event_clear(&e);

    /* Only what changed: robot 3 alone. */
    insert_readings((const int[]){3}, 1, 2.0);
    int skipped = 0;
    wait_event(&r, "robots", robots_are, (const int[]){3, 0}, 5000, &e, &skipped);
    assert_int_equal(skipped, 0);
    event_clear(&e);

    uint64_t st, nt, rc;
    serve_feed_counts(f, &st, &nt, &rc);
    print_message("statements %llu, notifications %llu, reconnects %llu\n", (unsigned long long)st,
                  (unsigned long long)nt, (unsigned long long)rc);
    assert_true(nt >= 2);
    assert_int_equal(rc, 0);
    reader_close(&r);
    serve_feed_stop(f);
    sse_hub_free(hub);
}

/* An episode of the consumer is published at its NOTIFY; another consumer's is not; its
 * growth and close, which no NOTIFY announces, within the next fleet tick or two. */
static void test_anomaly(void **state)
{
    (void)state;
    if (!fx.db) skip();
    int64_t before = insert_episode(CONSUMER, 0); /* before the start: not published */
    sse_hub *hub = sse_hub_new(NULL, NULL);
    serve_feed *f = start_feed(hub);
    reader r;
    reader_open(&r, hub);

    int64_t other = insert_episode("someone_else", 1);
    int64_t id = insert_episode(CONSUMER, 1);
    int64_t t0 = util_mono_us();
    event e;
    int skipped = 0;
    wait_event(&r, "anomaly", anomaly_is, &id, 2000, &e, &skipped);
    print_message("NOTIFY to anomaly event: %.1f ms\n", (double)(util_mono_us() - t0) / 1000);
    assert_int_equal(skipped, 0); /* neither `before` nor `other` */
    (void)before;
    (void)other;
    assert_int_equal(json_integer_value(json_object_get(e.data, "robot_id")), 1);
    assert_int_equal(json_integer_value(json_object_get(e.data, "axis")), 2);
    assert_string_equal(json_string_value(json_object_get(e.data, "level")), "ALERT");
    assert_string_equal(json_string_value(json_object_get(e.data, "detector")), "regress");
    assert_true(json_is_true(json_object_get(e.data, "open")));
    assert_true(json_real_value(json_object_get(e.data, "peak_score")) == 0.875);
    assert_int_equal(json_integer_value(json_object_get(e.data, "readings")), 3);
    event_clear(&e);

    /* It grows and closes, silently, as the stage writes an episode that did not open or rise. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE anomaly SET readings = 9, open = false, ts_end = clock_timestamp(), "
             "updated_at = clock_timestamp() WHERE id = %lld",
             (long long)id);
    harness_exec(fx.conn, sql);
    wait_event(&r, "anomaly", anomaly_closed, &id, 3000, &e, &skipped);
    assert_int_equal(skipped, 0);
    assert_int_equal(json_integer_value(json_object_get(e.data, "readings")), 9);
    event_clear(&e);
    /* ... once: the next ticks find nothing new. */
    int64_t end = util_mono_us() + 2500000;
    while (util_mono_us() < end) {
        if (!next_event(&r, 100, &e)) continue;
        assert_string_not_equal(e.type, "anomaly");
        event_clear(&e);
    }
    reader_close(&r);
    serve_feed_stop(f);
    sse_hub_free(hub);
}

/* `fleet` every second, with the figures; serve_feed_fleet says what the last one said. */
static void test_fleet(void **state)
{
    (void)state;
    if (!fx.db) skip();
    sse_hub *hub = sse_hub_new(NULL, NULL);
    serve_feed *f = start_feed(hub);
    char *first = serve_feed_fleet(f);
    json_t *j = json_loads(first, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "database")), "ok");
    json_decref(j);
    free(first);
    reader r;
    reader_open(&r, hub);
    insert_readings((const int[]){4}, 1, 3.0);
    event e;
    int64_t t[4];
    for (int i = 0; i < 4; i++) {
        wait_event(&r, "fleet", NULL, NULL, 2000, &e, NULL);
        t[i] = util_mono_us();
        if (i < 3) event_clear(&e);
    }
    for (int i = 1; i < 4; i++) {
        print_message("fleet interval %.0f ms\n", (double)(t[i] - t[i - 1]) / 1000);
        assert_true(t[i] - t[i - 1] > 500000 && t[i] - t[i - 1] < 1500000);
    }
    const json_t *d = e.data;
    assert_true(json_is_string(json_object_get(d, "t")));
    assert_true(json_is_number(json_object_get(d, "rows_per_s")));
    assert_true(json_integer_value(json_object_get(json_object_get(d, "robots"), "running")) >= 4);
    assert_true(json_is_integer(json_object_get(json_object_get(d, "episodes_open"), "ALERT")));
    assert_true(json_is_integer(json_object_get(json_object_get(d, "episodes_open"), "ERROR")));
    assert_true(json_is_number(json_object_get(d, "lag_s")));
    const json_t *stages = json_object_get(d, "stages");
    int found = 0;
    for (size_t i = 0; i < json_array_size(stages); i++) {
        const json_t *s = json_array_get(stages, i);
        if (strcmp(json_string_value(json_object_get(s, "name")), CONSUMER)) continue;
        found = 1;
        assert_true(json_integer_value(json_object_get(s, "rows")) >= 4);
        assert_true(json_is_number(json_object_get(s, "lag_s")));
    }
    assert_true(found);
    char *last = serve_feed_fleet(f);
    j = json_loads(last, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_string(json_object_get(j, "t")));
    json_decref(j);
    free(last);
    event_clear(&e);
    reader_close(&r);
    serve_feed_stop(f);
    sse_hub_free(hub);
}

/* The same scripted sequence (bursts of commits, each awaited) with 1 client and with 200: the
 * statements beyond the fleet ticks are those the notifications ask for, whatever the number of
 * clients. Returns them. */
static uint64_t scripted(int clients, uint64_t *notifications)
{
    sse_hub *hub = sse_hub_new(NULL, NULL);
    serve_feed *f = start_feed(hub);
    reader r;
    reader_open(&r, hub);
    sse_client **more = xcalloc((size_t)clients, sizeof *more);
    for (int i = 1; i < clients; i++) more[i] = sse_client_new(hub, NULL);
    uint64_t s0, s1, n0, n1;
    serve_feed_counts(f, &s0, &n0, NULL);
    event e;
    for (int burst = 0; burst < 8; burst++) {
        int id = 1 + burst % 6;
        insert_readings((const int[]){id}, 1, 10.0 + burst);
        wait_event(&r, "robots", robots_are, (const int[]){id, 0}, 5000, &e, NULL);
        event_clear(&e);
    }
    serve_feed_counts(f, &s1, &n1, NULL);
    print_message("%d clients: %llu statements, %llu notifications\n", clients,
                  (unsigned long long)(s1 - s0), (unsigned long long)(n1 - n0));
    int clients_now = 0;
    sse_hub_counts(hub, &clients_now, NULL);
    assert_int_equal(clients_now, clients);
    for (int i = 1; i < clients; i++) sse_client_free(more[i]);
    free(more);
    reader_close(&r);
    serve_feed_stop(f);
    sse_hub_free(hub);
    *notifications = n1 - n0;
    return s1 - s0;
}

static void test_cost_independent_of_clients(void **state)
{
    (void)state;
    if (!fx.db) skip();
    int64_t a = util_mono_us();
    uint64_t n1, n200;
    uint64_t one = scripted(1, &n1);
    double secs1 = (double)(util_mono_us() - a) / 1e6;
    a = util_mono_us();
    uint64_t many = scripted(200, &n200);
    double secs200 = (double)(util_mono_us() - a) / 1e6;
    print_message("statements over the sequence: 1 client %llu (%.1f s), 200 clients %llu (%.1f s)\n",
                  (unsigned long long)one, secs1, (unsigned long long)many, secs200);
    /* 8 bursts (a commit of the consumer each, sometimes two): at most one robots statement
     * per notification, plus a fleet statement per second elapsed; the clients add nothing. */
    assert_true(one >= 8 && many >= 8);
    assert_true(one <= n1 + (uint64_t)secs1 + 1);
    assert_true(many <= n200 + (uint64_t)secs200 + 1);
}

/* A storm of live notifications (300 commits over about a second): the robots
 * statements are coalesced to at most one per 100 ms however many notifications come. */
static void test_coalesce(void **state)
{
    (void)state;
    if (!fx.db) skip();
    sse_hub *hub = sse_hub_new(NULL, NULL);
    serve_feed *f = start_feed(hub);
    uint64_t s0, s1, n0, n1;
    serve_feed_counts(f, &s0, &n0, NULL);
    int64_t t0 = util_mono_us();
    for (int i = 0; i < 300; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT pg_notify('pgpulse_live', '{\"consumer\":\"x\",\"rows\":%d}')", i);
        harness_exec(fx.conn, sql);
        util_sleep_ms(3);
    }
    /* Until the feed has received them all. */
    do {
        util_sleep_ms(10);
        serve_feed_counts(f, &s1, &n1, NULL);
    } while (n1 - n0 < 300 && util_mono_us() - t0 < 10000000);
    double secs = (double)(util_mono_us() - t0) / 1e6;
    print_message("%llu notifications in %.2f s: %llu statements\n", (unsigned long long)(n1 - n0), secs,
                  (unsigned long long)(s1 - s0));
    assert_int_equal(n1 - n0, 300);
    /* robots: at most 10 a second (and one more at each end); fleet: one a second. */
    assert_true((double)(s1 - s0) <= secs * 11 + 3);
    serve_feed_stop(f);
    sse_hub_free(hub);
}

/* The feed's backend is terminated: it says the database is unreachable, reconnects, and
 * publishes what was committed meanwhile (robots and an episode whose NOTIFY it missed). */
static void test_reconnect(void **state)
{
    (void)state;
    if (!fx.db) skip();
    sse_hub *hub = sse_hub_new(NULL, NULL);
    serve_feed *f = start_feed(hub);
    reader r;
    reader_open(&r, hub);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", feed_backend());
    harness_exec(fx.conn, sql);
    event e;
    wait_event(&r, "fleet", fleet_unreachable, NULL, 2000, &e, NULL);
    event_clear(&e);
    /* While it is down (the backoff is 1 s): a reading and an announced episode. */
    insert_readings((const int[]){5}, 1, 5.5);
    int64_t id = insert_episode(CONSUMER, 1);
    wait_event(&r, "robots", robots_are, (const int[]){5, 0}, 5000, &e, NULL);
    event_clear(&e);
    wait_event(&r, "anomaly", anomaly_is, &id, 5000, &e, NULL);
    event_clear(&e);
    uint64_t rc;
    serve_feed_counts(f, NULL, NULL, &rc);
    assert_int_equal(rc, 1);
    /* And it listens again. */
    insert_readings((const int[]){6}, 1, 6.5);
    int64_t t0 = util_mono_us();
    wait_event(&r, "robots", robots_are, (const int[]){6, 0}, 5000, &e, NULL);
    assert_true(util_mono_us() - t0 < 1000000);
    event_clear(&e);
    reader_close(&r);
    serve_feed_stop(f);
    sse_hub_free(hub);
}

/* A stop while the feed waits to reconnect returns at once. */
static void test_stop_during_backoff(void **state)
{
    (void)state;
    if (!fx.db) skip();
    sse_hub *hub = sse_hub_new(NULL, NULL);
    serve_feed *f = start_feed(hub);
    reader r;
    reader_open(&r, hub);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", feed_backend());
    harness_exec(fx.conn, sql);
    event e;
    wait_event(&r, "fleet", fleet_unreachable, NULL, 2000, &e, NULL);
    event_clear(&e);
    reader_close(&r);
    int64_t t0 = util_mono_us();
    serve_feed_stop(f);
    int64_t took = util_mono_us() - t0;
    print_message("stop during backoff: %.2f ms\n", (double)took / 1000);
    assert_true(took < 100000);
    sse_hub_free(hub);
}

/* A database that cannot be reached: no feed, and why. */
static void test_start_fails(void **state)
{
    (void)state;
    if (!fx.db) skip();
    sse_hub *hub = sse_hub_new(NULL, NULL);
    char err[512] = "";
    serve_feed *f = serve_feed_start("host=127.0.0.1 port=1 dbname=x connect_timeout=2", CONSUMER, hub, err,
                                     sizeof err);
    assert_null(f);
    assert_true(err[0] != '\0');
    print_message("%s\n", err);
    sse_hub_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_robots),
        cmocka_unit_test(test_anomaly),
        cmocka_unit_test(test_fleet),
        cmocka_unit_test(test_cost_independent_of_clients),
        cmocka_unit_test(test_coalesce),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_stop_during_backoff),
        cmocka_unit_test(test_start_fails),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
