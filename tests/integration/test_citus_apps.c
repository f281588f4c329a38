/* Integration tests of what reads the pipeline's outputs on Citus (a coordinator and two
 * workers; tests/run.sh starts it where Citus is installed, and the test skips with a message
 * elsewhere): one consumer with every stage (live, detect, learn, warehouse) on a Citus database
 * the simulator and import-maintenance write through the coordinator, and the same on a single
 * PostgreSQL fed the same rows. Then on Citus `pgpulse report` renders (a PDF whose page tree
 * holds the pages it says, a PNG and an SVG per figure) the single server's report.html byte
 * for byte; every canned query answers as on the single server (the same rows where they
 * depend on per-robot outputs only, the same number of rows otherwise); every /api endpoint the
 * dashboard's pages call (their fetch and EventSource calls) answers 200 with JSON, a robot's
 * readings and forecasts as on the single server, an anomaly is acknowledged and the SSE feed
 * sends its first events; and `warehouse stats` counts the reading partitions' bytes on the
 * workers. About 13 s. */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "httpc.h"
#include "serve.h"
#include "util.h"

#define STAGES "live,detect,learn,warehouse"
#define CONSUMER "apps"
#define WEB "pgpulse_web"

/* Work orders for robots 1..5 (import-maintenance): failures and their repairs, so mtbf_mttr
 * and top_risk have maintenance to read. */
static const char orders[] =
    "robot,start,end,kind,text,work_order,axis\n"
    "1,2026-03-01T00:20:00Z,2026-03-01T00:25:00Z,failure,motor 2 tripped,WO-1,2\n"
    "1,2026-03-01T00:30:00Z,2026-03-01T00:40:00Z,repair,motor 2 replaced,WO-2,2\n"
    "2,2026-03-01T00:50:00Z,,failure,gearbox noise,WO-3,\n"
    "2,2026-03-01T01:10:00Z,2026-03-01T01:20:00Z,repair,gearbox,WO-4,\n"
    "3,2026-03-01T01:00:00Z,,inspection,yearly,WO-5,\n"
    "5,2026-03-01T01:30:00Z,2026-03-01T01:31:00Z,replacement,cable,WO-6,4\n";

static int start_consumer(const char *db, const char *log)
{
    return harness_spawn(NULL, log,
                         (const char *[]){"consume", "--stages", STAGES, "--db", db, "--name",
                                          CONSUMER, "--status-every", "0", NULL});
}

/* The simulator through db: 5 robots, 2 simulated hours, heavy faults, fixed start and seed. */
static int start_writer(const char *db)
{
    return harness_spawn(NULL, NULL,
                         (const char *[]){"gen", "--db", db, "--robots", "5", "--duration", "7200",
                                          "--speedup", "max", "--seed", "3", "--faults", "heavy",
                                          "--start", "2026-03-01T00:00:00Z", "--batch", "5000",
                                          NULL});
}

/* Waits until the consumer has every reading and the warehouse every maintenance event (fails
 * after 90 s, showing its log). */
static void wait_consumed(PGconn *conn, const char *name, const char *log)
{
    int64_t want = harness_query_int(conn, "SELECT count(*) FROM reading"), got = -1, facts = 0;
    int64_t events = harness_query_int(conn, "SELECT count(*) FROM maintenance_event");
    for (int i = 0; i < 900; i++, util_sleep_ms(100)) {
        got = harness_query_int(conn, "SELECT rows FROM stream_checkpoint WHERE consumer = '" CONSUMER
                                      "' AND source = 'local'");
        facts = harness_query_int(conn, "SELECT count(*) FROM dw.fact_maintenance");
        if (got >= want && facts >= events) break;
    }
    if (got != want || facts != events) {
        char *out = harness_read_file(log);
        fail_msg("%s: %lld of %lld rows consumed, %lld of %lld events in the warehouse; the "
                 "consumer said:\n%s",
                 name, (long long)got, (long long)want, (long long)facts, (long long)events, out);
    }
}

/* Feeds db (a consumer with every stage, the work orders, the simulator) and stops the
 * consumer once it has everything. The work orders go first: the warehouse stage copies them
 * (dw.sync_feeds) when it next commits, which it does for readings only; orders imported after
 * the last reading would wait for the next one (the feed stalled in 1 run of 10 that way). */
static void feed(const char *db, const char *name)
{
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/%s.log", harness_tmpdir(), name);
    int c = start_consumer(db, log);
    harness_wait_slot(conn, CONSUMER);
    /* The simulator's robots (as gen registers them), for the orders. */
    harness_exec(conn, "INSERT INTO robot (robot_id, name) SELECT g, 'sim-' || g FROM "
                       "generate_series(1, 5) g");
    char *csv = xasprintf("%s/orders.csv", harness_tmpdir());
    harness_write_file(csv, orders);
    harness_out o = harness_pgpulse_limit(60, NULL, (const char *[]){"import-maintenance", "--db", db,
                                                                     "--source", "cmms", csv, NULL});
    if (o.status != 0) fail_msg("import-maintenance failed (%d): %s", o.status, o.err);
    harness_out_free(&o);
    free(csv);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM maintenance_event WHERE source = 'cmms'"), 6);
    int w = start_writer(db);
    assert_int_equal(harness_wait(w, NULL), 0);
    wait_consumed(conn, name, log);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    free(log);
    PQfinish(conn);
}

/* Runs pgpulse, failing the test unless it succeeds; returns its standard output (newly
 * allocated). */
static char *run(const char *const argv[])
{
    harness_out o = harness_pgpulse_limit(120, NULL, argv);
    if (o.status != 0) fail_msg("pgpulse %s %s failed (%d): %s", argv[0], argv[1], o.status, o.err);
    char *out = o.out;
    o.out = NULL;
    harness_out_free(&o);
    return out;
}

static size_t lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Pages in a PDF ("/Type /Page" objects, not "/Pages"), checked against the page tree's
 * /Count. */
static int pdf_pages(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    assert_true(len > 1000);
    rewind(f);
    size_t n = (size_t)len;
    char *b = xmalloc(n);
    assert_int_equal(fread(b, 1, n, f), n);
    fclose(f);
    assert_memory_equal(b, "%PDF-", 5);
    int pages = 0;
    long count = -1;
    for (size_t i = 0; i + 12 < n; i++) {
        if (!memcmp(b + i, "/Type /Page", 11) && b[i + 11] != 's') pages++;
        if (count < 0 && !memcmp(b + i, "/Count", 6)) count = strtol(b + i + 6, NULL, 10);
    }
    free(b);
    assert_int_equal(count, pages);
    return pages;
}

/* The report on Citus: its PDF's pages as it says, a PNG and an SVG per figure, the forecast
 * figures among them, and the single server's report.html byte for byte (every count,
 * statistic and forecast figure; report_data.c's Citus forms). */
static void check_report(const char *db, const char *ref)
{
    char *dir = xasprintf("%s/report", harness_tmpdir()), *rdir = xasprintf("%s/ref", harness_tmpdir());
    char *out = run((const char *[]){"report", "--db", db, "--out", dir, NULL});
    free(run((const char *[]){"report", "--db", ref, "--out", rdir, NULL}));
    char *html = xasprintf("%s/report.html", dir), *rhtml = xasprintf("%s/report.html", rdir);
    char *got = harness_read_file(html), *want = harness_read_file(rhtml);
    if (strcmp(got, want)) fail_msg("%s differs from the single server's %s", html, rhtml);
    free(got);
    free(want);
    free(html);
    free(rhtml);
    free(rdir);
    const char *p = strstr(out, "report.pdf (");
    assert_non_null(p);
    int pages = atoi(p + strlen("report.pdf ("));
    assert_true(pages >= 7);
    char *pdf = xasprintf("%s/report.pdf", dir);
    assert_int_equal(pdf_pages(pdf), pages);
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    int png = 0, svg = 0, forecast = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".png")) png++;
        if (len > 4 && !strcmp(e->d_name + len - 4, ".svg")) svg++;
        if (strstr(e->d_name, "forecast") && len > 4 && !strcmp(e->d_name + len - 4, ".png")) forecast++;
    }
    closedir(dh);
    assert_int_equal(png, svg);
    /* 8 distributions, a streaming chart or more, 8 forecasts. */
    if (png < 17 || forecast != 8) fail_msg("%d figures, %d forecasts: %s", png, forecast, out);
    free(pdf);
    free(out);
    free(dir);
}

/* Queries whose rows depend on per-robot outputs only (the same on both); the others (the
 * fleet's risk model is fed in arrival order, ingest batches are timed) are compared by their
 * number of rows. */
static int same_rows(const char *name)
{
    static const char *const exact[] = {"alert_rate", "detection_quality", "mtbf_mttr",
                                        "percentiles", "utilisation"};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (!strcmp(name, exact[i])) return 1;
    return 0;
}

/* Every canned query on Citus against the single server. Returns the names (NULL-terminated,
 * newly allocated). */
static char **check_queries(const char *db, const char *ref)
{
    char *list = run((const char *[]){"query", "--list", "--db", db, NULL});
    char **names = xcalloc(lines(list) + 1, sizeof *names);
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(list, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char name[64];
        if (sscanf(l, "%63s", name) != 1) continue;
        names[n++] = xstrdup(name);
        char *got = run((const char *[]){"query", name, "--format", "csv", "--db", db, NULL});
        char *want = run((const char *[]){"query", name, "--format", "csv", "--db", ref, NULL});
        print_message("query %s: %zu rows on Citus, %zu on one server\n", name, lines(got) - 1,
                      lines(want) - 1);
        if (same_rows(name)) {
            if (strcmp(got, want))
                fail_msg("query %s differs from the single server's:\n%s\nsingle server:\n%s", name,
                         got, want);
        } else if (lines(got) != lines(want)) {
            fail_msg("query %s: %zu lines, the single server's %zu:\n%s\nsingle server:\n%s", name,
                     lines(got), lines(want), got, want);
        }
        free(got);
        free(want);
    }
    assert_true(n >= 8);
    free(list);
    return names;
}

static httpc_reply get_json(serve *s, const char *path)
{
    httpc_reply r = httpc_request(s, "GET", path, NULL, NULL);
    if (r.status != 200 || !r.json)
        fail_msg("GET %s: %d %s", path, r.status, (const char *)r.body.data);
    return r;
}

static void get_ok(serve *s, const char *path)
{
    httpc_reply r = get_json(s, path);
    httpc_free(&r);
}

/* The server over database dbname of the cluster in $env, as the web login. */
static serve *start_serve(const char *env, const char *dbname)
{
    const char *home = getenv(env);
    char *portfile = xasprintf("%s/port", home), *port = harness_read_file(portfile);
    char *web = xasprintf("host=127.0.0.1 port=%d user=" WEB " dbname=%s passfile=%s/pgpass",
                          atoi(port), dbname, home);
    free(port);
    free(portfile);
    char err[512];
    serve_opts o = {.conninfo = web, .consumer = CONSUMER, .listen = "127.0.0.1:0", .threads = 2,
                    .quiet = 1};
    serve *s = serve_start(&o, err, sizeof err);
    if (!s) fail_msg("serve_start: %s", err);
    free(web);
    return s;
}

/* GET path answers the same JSON on Citus and on the single server. */
static void same_answer(serve *s, serve *ref, const char *path)
{
    httpc_reply a = get_json(s, path), b = get_json(ref, path);
    if (!json_equal(a.json, b.json))
        fail_msg("GET %s differs from the single server's:\n%s\nsingle server:\n%s", path,
                 (const char *)a.body.data, (const char *)b.body.data);
    httpc_free(&a);
    httpc_free(&b);
}

/* Every endpoint the dashboard's pages call (the fetch and EventSource calls of web/), as the
 * web login; a robot's readings and forecasts, and the per-robot queries, as the single
 * server answers them. */
static void check_api(PGconn *conn, char **queries)
{
    serve *s = start_serve("PGPULSE_TEST_CITUS_HOME", "test_citus_apps");
    serve *ref = start_serve("PGPULSE_TEST_HOME", "test_citus_apps_ref");

    /* The fleet page. */
    get_ok(s, "/api/health");
    get_ok(s, "/api/fleet");
    httpc_reply r = get_json(s, "/api/robots");
    json_t *robots = json_object_get(r.json, "robots");
    assert_int_equal(json_array_size(robots), 5);
    httpc_free(&r);
    get_ok(s, "/api/anomalies?limit=20");
    get_ok(s, "/api/anomalies?open=true&limit=1000");
    /* A robot's page. */
    for (int robot = 1; robot <= 5; robot++) {
        char path[256];
        snprintf(path, sizeof path, "/api/robots/%d/readings?points=60", robot);
        r = get_json(s, path);
        assert_true(json_array_size(json_object_get(r.json, "t")) > 0);
        httpc_free(&r);
        snprintf(path, sizeof path, "/api/robots/%d/readings?points=60", robot);
        same_answer(s, ref, path);
        snprintf(path, sizeof path, "/api/robots/%d/readings?points=300&from=2026-03-01T00:30:00Z"
                 "&to=2026-03-01T01:00:00Z", robot);
        same_answer(s, ref, path);
        snprintf(path, sizeof path, "/api/robots/%d/predictions?kind=forecast&horizon=1&"
                 "from=2026-03-01T01:00:00Z&to=2026-03-01T02:00:00Z&points=300", robot);
        r = get_json(s, path);
        assert_int_equal(json_array_size(json_object_get(r.json, "series")), 8);
        httpc_free(&r);
        same_answer(s, ref, path);
        snprintf(path, sizeof path, "/api/robots/%d/predictions?kind=risk", robot);
        get_ok(s, path);
        snprintf(path, sizeof path, "/api/anomalies?robot=%d&limit=200", robot);
        get_ok(s, path);
    }
    /* The pipeline and reports pages. */
    get_ok(s, "/api/pipeline");
    get_ok(s, "/api/query");
    for (char **q = queries; *q; q++) {
        char path[256];
        snprintf(path, sizeof path, "/api/query/%s", *q);
        if (same_rows(*q)) same_answer(s, ref, path);
        else get_ok(s, path);
    }
    /* The models page: every model's versions and its first metric's history. */
    r = get_json(s, "/api/models");
    json_t *models = json_object_get(r.json, "models");
    assert_true(json_array_size(models) > 0);
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *consumer = json_string_value(json_object_get(m, "consumer"));
        assert_non_null(name);
        char path[512];
        snprintf(path, sizeof path, "/api/models/%s/versions?consumer=%s&limit=50", name, consumer);
        get_ok(s, path);
        snprintf(path, sizeof path, "/api/models/%s/metrics?key=loss&consumer=%s&points=300", name,
                 consumer);
        get_ok(s, path);
    }
    httpc_free(&r);
    /* The alerts page: acknowledging an episode (its robot's row, on Citus too). */
    char *id = harness_query_text(conn, "SELECT min(id) FROM anomaly WHERE consumer = '" CONSUMER "'");
    assert_non_null(id);
    char path[128];
    snprintf(path, sizeof path, "/api/anomalies/%s/ack", id);
    r = httpc_request(s, "POST", path, "Content-Type: application/json\r\n", "{}");
    if (r.status != 200 || !r.json) fail_msg("POST %s: %d %s", path, r.status, (const char *)r.body.data);
    httpc_free(&r);
    char *sql = xasprintf("SELECT count(*) FROM anomaly_ack WHERE anomaly_id = %s", id);
    assert_int_equal(harness_query_int(conn, sql), 1);
    free(sql);
    free(id);
    /* The feed every page keeps open: hello, then the fleet. */
    const char *req = "GET /api/stream HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n";
    r = httpc_raw(serve_port(s), req, strlen(req), "event: fleet\n", 10000);
    assert_int_equal(r.status, 200);
    assert_int_equal(strncmp((const char *)r.body.data, "event: hello\n", 13), 0);
    assert_non_null(strstr((const char *)r.body.data, "event: fleet\n"));
    httpc_free(&r);
    serve_stop(s);
    serve_stop(ref);
}

/* warehouse stats on Citus: the day's reading partition counted on the workers (megabytes, not
 * the coordinator's empty shell). */
static void check_stats(const char *db, PGconn *conn)
{
    char *out = run((const char *[]){"warehouse", "stats", "--db", db, NULL});
    int64_t readings = harness_query_int(conn, "SELECT count(*) FROM reading");
    char want[64];
    snprintf(want, sizeof want, "2026-03-01 %12lld ", (long long)readings);
    const char *row = strstr(out, want);
    if (!row) fail_msg("no row %s in:\n%s", want, out);
    char raw[32], unit[8];
    assert_int_equal(sscanf(row + strlen(want), "%31s %7s", raw, unit), 2);
    if (strcmp(unit, "MB") || strtod(raw, NULL) < 1) fail_msg("reading's bytes: %s %s\n%s", raw, unit, out);
    free(out);
}

static void test_apps_on_citus(void **state)
{
    (void)state;
    const char *url = harness_citus_db_or_skip("citus_apps", 1);
    char *db = xstrdup(url), *ref = xstrdup(harness_db("citus_apps_ref", 1));
    feed(db, "citus");
    feed(ref, "single");
    PGconn *conn = harness_connect(db), *rconn = harness_connect(ref);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"),
                     harness_query_int(rconn, "SELECT count(*) FROM reading"));
    check_report(db, ref);
    char **queries = check_queries(db, ref);
    check_api(conn, queries);
    check_stats(db, conn);
    for (char **q = queries; *q; q++) free(*q);
    free(queries);
    PQfinish(rconn);
    PQfinish(conn);
    free(ref);
    free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apps_on_citus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
