/* Integration tests of `pgpulse ingest` (cmd_ingest, loader, readingcsv, csvin) against a
 * real PostgreSQL: the workshop export, reloads, rejects with line numbers, standard input,
 * kills at seeded instants, backends terminated at chosen moments, a server restart and constant
 * memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "rng.h"
#include "util.h"

static const char *db;

/* The per-axis means of the workshop export, from ../shared/data/workshop/README.md. */
static const double workshop_means[8] = {0.725743, 3.613374, 2.710336, 0.620222,
                                         0.954521, 0.599427, 0.870145, 0.102214};

static int setup(void **state)
{
    (void)state;
    db = harness_db("ingest", 1);
    return 0;
}

static void require_db(void)
{
    if (!db) skip();
}

static char *tmpfile_path(const char *name)
{
    return xasprintf("%s/%s", harness_tmpdir(), name);
}

/* Runs ingest with the given extra arguments on path (NULL-terminated list). */
static harness_out ingest(const char *stdin_path, const char *path, ...)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = "ingest";
    argv[n++] = "--db";
    argv[n++] = db;
    va_list ap;
    va_start(ap, path);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 30) argv[n++] = a;
    va_end(ap);
    argv[n++] = path;
    argv[n] = NULL;
    return harness_pgpulse(stdin_path, argv);
}

/* Writes a native CSV of n rows: robots 1..robots, one row per robot per second from
 * 2024-03-01, axis values derived from the row number (so sums are known). */
static void write_native(const char *path, long n, int robots, int epoch)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n", f);
    const long base = 1709251200; /* 2024-03-01T00:00:00Z */
    for (long i = 0; i < n; i++) {
        int robot = (int)(i % robots) + 1;
        long sec = base + i / robots;
        if (epoch)
            fprintf(f, "%d,%ld.25,", robot, sec);
        else
            fprintf(f, "%d,2024-03-%02ldT%02ld:%02ld:%02ld.250Z,", robot, 1 + (sec - base) / 86400,
                    (sec / 3600) % 24, (sec / 60) % 60, sec % 60);
        fprintf(f, "%ld.5,%ld,0,1.25,2,3,4,%ld\n", i % 1000, i % 7, i);
    }
    fclose(f);
}

static void make_robots(PGconn *conn, int n)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO robot (robot_id, name) SELECT g, 'r' || g FROM generate_series(1, %d) g "
             "ON CONFLICT DO NOTHING",
             n);
    harness_exec(conn, sql);
}

static void reset_readings(PGconn *conn)
{
    harness_exec(conn, "TRUNCATE reading, ingest_batch, ingest_reject");
}

/* ------------------------------------------------------------------------------------------ */

static void test_workshop_export_loads_exactly_once(void **state)
{
    (void)state;
    require_db();
    const char *path = harness_shared("data/workshop/RMBR4-2_export_test.csv");
    if (!path) {
        print_message("skipped: ../shared/data/workshop is absent\n");
        skip();
    }
    PGconn *conn = harness_connect(db);
    reset_readings(conn);

    harness_out o = ingest(NULL, path, "--robot", "1", "--create-robot", NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "read 39,672, inserted 39,672, already present 0, rejected 0"));
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading WHERE robot_id = 1"),
                     39672);
    for (int a = 0; a < 8; a++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT round(avg(axis%d)::numeric, 6) FROM reading", a + 1);
        char *v = harness_query_text(conn, sql);
        assert_float_equal(strtod(v, NULL), workshop_means[a], 1e-9);
        free(v);
    }
    char *first = harness_query_text(conn, "SELECT min(ts)::text FROM reading");
    assert_string_equal(first, "2022-10-17 12:18:23.66+00");
    free(first);

    /* Loading it again adds nothing and says so. */
    o = ingest(NULL, path, "--robot", "1", NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "inserted 0, already present 39,672, rejected 0"));
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), 39672);
    PQfinish(conn);
}

/* Copies src to dst, replacing the listed 1-based lines with the given texts. */
static void corrupt_copy(const char *src, const char *dst, const long *lines,
                         const char *const *texts, int n)
{
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    assert_non_null(in);
    assert_non_null(out);
    char line[4096];
    long no = 0;
    while (fgets(line, sizeof line, in)) {
        no++;
        int replaced = 0;
        for (int i = 0; i < n; i++)
            if (lines[i] == no) {
                fprintf(out, "%s\r\n", texts[i]);
                replaced = 1;
            }
        if (!replaced) fputs(line, out);
    }
    fclose(in);
    fclose(out);
}

static void test_workshop_corrupted_lines_are_rejected_with_line_numbers(void **state)
{
    (void)state;
    require_db();
    const char *src = harness_shared("data/workshop/RMBR4-2_export_test.csv");
    if (!src) {
        print_message("skipped: ../shared/data/workshop is absent\n");
        skip();
    }
    char *srcpath = xstrdup(src);
    char *path = tmpfile_path("corrupted.csv");
    const long lines[5] = {2, 1000, 20000, 30001, 39673};
    const char *const texts[5] = {
        "\"current\",0,0,abc,0,0,0,0,0,,,,,,,\"2022-10-17T12:18:23.660Z\"",
        "\"current\",0,0,0,0,0,0,0,0,,,,,,",
        "\"current\",0,NaN,0,0,0,0,0,0,,,,,,,\"2022-10-17T23:59:00.000Z\"",
        "\"current\",0,0,0,0,0,0,0,0,,,,,,,\"2022-13-45T10:00:00.000Z\"",
        "\"current\",1,1,1,1,1,1,1,1,,,,,,,\"2099-01-01T00:00:00.000Z\"",
    };
    corrupt_copy(srcpath, path, lines, texts, 5);
    PGconn *conn = harness_connect(db);
    reset_readings(conn);

    harness_out o = ingest(NULL, path, "--robot", "2", "--create-robot", NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "read 39,672, inserted 39,667, already present 0, rejected 5"));
    /* Each reject is reported on stderr with file:line. */
    for (int i = 0; i < 5; i++) {
        char where[64];
        snprintf(where, sizeof where, "corrupted.csv:%ld: rejected: ", lines[i]);
        assert_non_null(strstr(o.err, where));
    }
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading WHERE robot_id = 2"),
                     39667);
    char *got = harness_query_text(
        conn, "SELECT string_agg(line_no || ':' || split_part(reason, ':', 1), ' ' ORDER BY line_no)"
              " FROM ingest_reject");
    assert_string_equal(got, "2:Axis #3 1000:expected 16 fields, found 15 20000:Axis #2 "
                             "30001:Time 39673:Time");
    free(got);
    got = harness_query_text(conn, "SELECT reason FROM ingest_reject WHERE line_no = 39673");
    assert_non_null(strstr(got, "more than a day in the future"));
    free(got);

    /* Again: nothing new is stored, and each bad line is still recorded once. */
    o = ingest(NULL, path, "--robot", "2", NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "inserted 0, already present 39,667, rejected 5"));
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM ingest_reject"), 5);
    PQfinish(conn);
    free(path);
    free(srcpath);
}

/* The workshop format without the shared data: a small export written here. */
static void test_workshop_format_synthetic(void **state)
{
    (void)state;
    require_db();
    char *path = tmpfile_path("export.csv");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* BOM, CRLF, columns in another order, and Axis #9 holding a value on one line. */
    fputs("\xEF\xBB\xBF\"Time\",\"Trait\",\"Axis #1\",\"Axis #2\",\"Axis #3\",\"Axis #4\","
          "\"Axis #5\",\"Axis #6\",\"Axis #7\",\"Axis #8\",\"Axis #9\"\r\n", f);
    for (int i = 0; i < 100; i++)
        fprintf(f, "\"2023-01-02T03:04:%02d.%03dZ\",\"current\",%d.5,1,2,3,4,5,6,7,%s\r\n", i / 2,
                (i % 2) * 500, i, i == 50 ? "9" : "");
    fputs("\"2023-01-02T03:05:00.000Z\",\"voltage\",1,1,1,1,1,1,1,1,\r\n", f);
    fputs("\"2023-01-02T03:05:01.000Z\",\"current\",1,1,1,1,1,1,1,1,x9\r\n", f);
    fputs("\r\n", f);
    fclose(f);
    PGconn *conn = harness_connect(db);
    reset_readings(conn);

    /* Without --robot: a clear usage error. */
    harness_out o = ingest(NULL, path, NULL);
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "--robot"));
    harness_out_free(&o);
    /* A robot that does not exist, without --create-robot: refused before loading. */
    o = ingest(NULL, path, "--robot", "77", NULL);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "robot 77 does not exist"));
    harness_out_free(&o);

    o = ingest(NULL, path, "--robot", "77", "--create-robot", NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "read 103, inserted 100, already present 0, rejected 3"));
    assert_non_null(strstr(o.err, "export.csv:52: note: Axis #9..#14 hold values"));
    assert_non_null(strstr(o.err, "export.csv:102: rejected: Trait: not 'current': 'voltage'"));
    assert_non_null(strstr(o.err, "export.csv:103: rejected: Axis #9: not a number: 'x9'"));
    assert_non_null(strstr(o.err, "export.csv:104: rejected: empty line"));
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading WHERE robot_id = 77"),
                     100);
    assert_int_equal(harness_query_int(conn, "SELECT round(sum(axis1) * 10) FROM reading"), 49999 + 1);
    char *ts = harness_query_text(conn, "SELECT max(ts)::text FROM reading");
    assert_string_equal(ts, "2023-01-02 03:04:49.5+00");
    free(ts);
    PQfinish(conn);
    free(path);
}

static void test_native_stdin_exact_values(void **state)
{
    (void)state;
    require_db();
    PGconn *conn = harness_connect(db);
    reset_readings(conn);
    make_robots(conn, 20);
    char *path = tmpfile_path("native.csv");
    write_native(path, 50000, 20, 1);
    /* A value that needs all 17 significant digits must arrive bit for bit. */
    FILE *f = fopen(path, "a");
    fputs("3,1709251200,0.1,0.30000000000000004,1.7976931348623157e308,4.9e-324,-0,"
          "123456789.12345678,1e-7,2.2250738585072014e-308\n", f);
    fclose(f);

    harness_out o = ingest(path, "-", "--source", "stdin-test", NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "stdin-test: read 50,001, inserted 50,001"));
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), 50001);
    /* sum(axis8) over the generated rows is 0 + 1 + ... + 49999. */
    assert_int_equal(harness_query_int(conn, "SELECT sum(axis8)::bigint FROM reading "
                                             "WHERE ts <> '2024-03-01T00:00:00Z'"),
                     (int64_t)49999 * 50000 / 2);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM ingest_batch "
                                             "WHERE source = 'stdin-test'"),
                     6);
    PGresult *r = PQexecParams(conn,
                               "SELECT axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8 "
                               "FROM reading WHERE robot_id = 3 AND ts = '2024-03-01T00:00:00Z'",
                               0, NULL, NULL, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    const char *expect[8] = {"0.1", "0.30000000000000004", "1.7976931348623157e308", "4.9e-324",
                             "-0", "123456789.12345678", "1e-7", "2.2250738585072014e-308"};
    for (int c = 0; c < 8; c++) {
        uint64_t be = 0;
        memcpy(&be, PQgetvalue(r, 0, c), 8);
        be = __builtin_bswap64(be);
        double got, want = strtod(expect[c], NULL);
        memcpy(&got, &be, 8);
        assert_memory_equal(&got, &want, 8);
    }
    PQclear(r);
    PQfinish(conn);
    free(path);
}

static void test_native_bad_rows_are_rejected_and_the_load_goes_on(void **state)
{
    (void)state;
    require_db();
    PGconn *conn = harness_connect(db);
    reset_readings(conn);
    make_robots(conn, 5);
    char *path = tmpfile_path("bad.csv");
    char longline[1200];
    memset(longline, '9', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    char *text = xasprintf(
        "ts,robot_id,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8,comment\n" /* 1 */
        "2024-05-01T00:00:00Z,1,1,2,3,4,5,6,7,8,ok\n"                           /* 2 */
        "2024-05-01T00:00:01Z,999,1,2,3,4,5,6,7,8,unknown robot\n"              /* 3 */
        "2099-05-01T00:00:00Z,1,1,2,3,4,5,6,7,8,future\n"                        /* 4 */
        "2024-05-01T00:00:02Z,1,1,2,3,4,5,6,7,8\n"                               /* 5 */
        "2024-05-01T00:00:03Z,1,1,2,nan,4,5,6,7,8,nan\n"                         /* 6 */
        "2024-05-01T00:00:04Z,1,1,2,3,inf,5,6,7,8,inf\n"                         /* 7 */
        "2024-05-01T00:00:05Z,1,1,2,3,4,,6,7,8,empty\n"                          /* 8 */
        "2024-05-01 00:00:06,1,1,2,3,4,5,6,7,8,no zone\n"                        /* 9 */
        "2024-05-01T00:00:07Z,1,1,2,3,4,5,6,7,8,\"unterminated\n"               /* 10 */
        "2024-05-01T00:00:08Z,x1,1,2,3,4,5,6,7,8,robot\n"                       /* 11 */
        "%s\n"                                                                  /* 12 */
        "  \n"                                                                  /* 13 blank */
        "2024-05-01T00:00:00Z,1,1,2,3,4,5,6,7,8,duplicate of line 2\n"          /* 14 */
        "2024-05-01T00:00:09+02:00,2,1e3,-2.5,3,4,5,6,7,8,ok\n"                 /* 15 */
        "2024-05-01T00:00:10Z,1,1,2,3,4,5,6,7,1e999,overflow\n",                /* 16 */
        longline);
    harness_write_file(path, text);
    free(text);

    harness_out o = ingest(NULL, path, "--max-line", "1000", NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.err, "ignoring column(s) comment"));
    assert_non_null(strstr(o.out, "read 15, inserted 2, already present 1, rejected 12"));
    harness_out_free(&o);
    PGresult *r = PQexec(conn, "SELECT line_no, reason FROM ingest_reject ORDER BY line_no");
    assert_int_equal(PQntuples(r), 12);
    const char *want[12][2] = {
        {"3", "robot_id: robot 999 does not exist"},
        {"4", "ts: more than a day in the future: '2099-05-01T00:00:00Z'"},
        {"5", "expected 11 fields, found 10"},
        {"6", "axis3: not a finite number: 'nan'"},
        {"7", "axis4: not a finite number: 'inf'"},
        {"8", "axis5: missing value: ''"},
        {"9", "ts: no time zone (add Z or an offset such as +00:00): '2024-05-01 00:00:06'"},
        {"10", "unterminated quoted field"},
        {"11", "robot_id: not an integer: 'x1'"},
        {"12", "line longer than 1000 bytes"},
        {"13", "empty line"},
        {"16", "axis8: not a finite number: '1e999'"},
    };
    /* Every expected reason is present at its line. */
    for (int w = 0; w < 12; w++) {
        int found = 0;
        for (int i = 0; i < PQntuples(r); i++)
            if (!strcmp(PQgetvalue(r, i, 0), want[w][0]) &&
                !strcmp(PQgetvalue(r, i, 1), want[w][1]))
                found = 1;
        if (!found) fail_msg("no reject at line %s with reason \"%s\"", want[w][0], want[w][1]);
    }
    PQclear(r);
    /* The over-long line is kept, cut to the configured bound. */
    assert_int_equal(harness_query_int(conn, "SELECT length(raw) FROM ingest_reject WHERE line_no = 12"),
                     1000);
    char *v = harness_query_text(conn, "SELECT axis1 || '/' || axis2 || '/' || ts::text FROM reading "
                                       "WHERE robot_id = 2");
    assert_string_equal(v, "1000/-2.5/2024-04-30 22:00:09+00");
    free(v);
    PQfinish(conn);
    free(path);
}

static void test_bad_headers_and_empty_input(void **state)
{
    (void)state;
    require_db();
    char *path = tmpfile_path("header.csv");
    harness_write_file(path, "a,b,c\n1,2,3\n");
    harness_out o = ingest(NULL, path, NULL);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "header.csv:1: header not recognised"));
    harness_out_free(&o);

    harness_write_file(path, "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7\n");
    o = ingest(NULL, path, NULL);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "missing column(s): axis8"));
    harness_out_free(&o);

    harness_write_file(path, "");
    o = ingest(NULL, path, NULL);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "empty input"));
    harness_out_free(&o);

    o = ingest(NULL, "/nonexistent/file.csv", NULL);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "/nonexistent/file.csv: No such file or directory"));
    harness_out_free(&o);
    free(path);
}

/* ------------------------------------------------------------------------------------------ */
/* Failure: kill -9 at seeded instants, terminated backends, a server restart. */

#define BIG_ROWS 300000

static void assert_big_load_complete(PGconn *conn)
{
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), BIG_ROWS);
    assert_int_equal(harness_query_int(conn, "SELECT sum(axis8)::bigint FROM reading"),
                     (int64_t)(BIG_ROWS - 1) * BIG_ROWS / 2);
    /* The bookkeeping agrees with the data: every stored row was counted once as inserted. */
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_inserted) FROM ingest_batch"),
                     BIG_ROWS);
}

static void test_killed_at_random_instants_then_rerun(void **state)
{
    (void)state;
    require_db();
    PGconn *conn = harness_connect(db);
    reset_readings(conn);
    make_robots(conn, 20);
    char *path = tmpfile_path("big.csv");
    write_native(path, BIG_ROWS, 20, 0);
    /* The moments come from the seed: a failure replays with PGPULSE_TEST_SEED. */
    rng moments;
    rng_seed(&moments, harness_seed(), 1);
    int64_t last = 0;
    for (int k = 0; k < 6; k++) {
        int pid = harness_spawn(NULL, NULL, (const char *[]){"ingest", "--db", db, "--batch", "7000",
                                                             path, NULL});
        util_sleep_ms(100 + (int)rng_below(&moments, 400));
        kill(pid, SIGKILL);
        int st = harness_wait(pid, NULL);
        int64_t now = harness_query_int(conn, "SELECT count(*) FROM reading");
        print_message("kill %d: status %d, %lld rows stored\n", k + 1, st, (long long)now);
        assert_true(now >= last);
        last = now;
    }
    harness_out o = ingest(NULL, path, "--batch", "7000", NULL);
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    assert_big_load_complete(conn);
    PQfinish(conn);
    free(path);
}

/* The index of the first event of kind `kind` in direction dir after index i. */
static size_t next_event(const faultproxy_event *ev, size_t n, size_t i, faultproxy_dir dir,
                         faultproxy_kind kind)
{
    while (++i < n)
        if (ev[i].dir == dir && ev[i].kind == kind) return i;
    fail_msg("no %s in the trace after event %zu", faultproxy_kind_name(kind), i);
    return 0;
}

/* Backends terminated by an administrator (pg_terminate_backend: FATAL 57P01, then the socket
 * closes) at chosen moments, not at random ones: the fault proxy holds the load at a message
 * until the test has terminated the backend and seen it gone, then lets it go on. The moments:
 * before the schema check of the first connection (what failed, now and then, when this test
 * terminated every pgpulse-ingest backend every 40 ms), in the middle of a COPY, and after a
 * COMMIT whose reply is held back (the next statement meets the termination). */
static void test_lost_connections_are_retried_without_duplicates(void **state)
{
    (void)state;
    require_db();
    PGconn *conn = harness_connect(db);
    reset_readings(conn);
    make_robots(conn, 20);
    char *path = tmpfile_path("big2.csv");
    write_native(path, 20000, 20, 1);
    const char *proxied = harness_proxy_db("ingest");
    faultproxy *p = harness_proxy();
    const char *argv[] = {"ingest", "--db", proxied, "--batch", "2000", path, NULL};

    /* An undisturbed load through the proxy gives the messages to stop at. */
    size_t n;
    faultproxy_event *ev = harness_proxy_record(argv, "pgpulse-ingest", &n);
    assert_int_equal(ev[0].kind, FAULTPROXY_STARTUP);
    size_t check = next_event(ev, n, 0, FAULTPROXY_TO_SERVER, FAULTPROXY_QUERY);
    size_t copydone = 0;
    for (int k = 0; k < 3; k++)
        copydone = next_event(ev, n, copydone, FAULTPROXY_TO_SERVER, FAULTPROXY_COPY_DONE);
    /* After the COPY: the bookkeeping statement (extended protocol), then COMMIT. */
    size_t sync = next_event(ev, n, copydone, FAULTPROXY_TO_SERVER, FAULTPROXY_SYNC);
    size_t commit = next_event(ev, n, sync, FAULTPROXY_TO_SERVER, FAULTPROXY_QUERY);
    size_t reply = next_event(ev, n, commit, FAULTPROXY_TO_CLIENT, FAULTPROXY_COMMAND_COMPLETE);
    const struct {
        const char *what;
        faultproxy_dir dir;
        long n;
    } moments[3] = {
        {"before the schema check", FAULTPROXY_TO_SERVER, faultproxy_ordinal(ev, check)},
        {"during batch 3's COPY", FAULTPROXY_TO_SERVER, faultproxy_ordinal(ev, copydone)},
        {"after batch 3's COMMIT", FAULTPROXY_TO_CLIENT, faultproxy_ordinal(ev, reply)},
    };
    free(ev);

    for (int m = 0; m < 3; m++) {
        reset_readings(conn);
        faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name",
                                             .match_value = "pgpulse-ingest",
                                             .dir = moments[m].dir, .kind = FAULTPROXY_ANY,
                                             .n = moments[m].n, .when = FAULTPROXY_BEFORE,
                                             .action = FAULTPROXY_STALL,
                                             .stall_ms = FAULTPROXY_UNTIL_RELEASED});
        char *log = tmpfile_path("big2.log");
        unlink(log);
        int pid = harness_spawn(NULL, log, argv);
        for (int i = 0; i < 3000 && !faultproxy_fired(p, NULL); i++) util_sleep_ms(10);
        if (!faultproxy_fired(p, NULL)) fail_msg("%s: the load never got there", moments[m].what);
        /* The load's newest backend (the first connection's may still be ending). */
        int64_t victim = harness_query_int(conn, "SELECT pid FROM pg_stat_activity "
                                                 "WHERE application_name = 'pgpulse-ingest' "
                                                 "ORDER BY backend_start DESC LIMIT 1");
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)::int", (long long)victim);
        assert_int_equal(harness_query_int(conn, sql), 1);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %lld",
                 (long long)victim);
        for (int i = 0; i < 3000 && harness_query_int(conn, sql); i++) util_sleep_ms(10);
        assert_int_equal(harness_query_int(conn, sql), 0);
        faultproxy_release(p);
        int st = harness_wait(pid, NULL);
        faultproxy_arm(p, NULL);
        char *out = harness_read_file(log);
        if (st != 0) fail_msg("%s: ingest failed: %s", moments[m].what, out);
        print_message("terminated %s: reconnected and went on\n", moments[m].what);
        assert_non_null(strstr(out, "lost the database connection"));
        /* The user is told why, not only that the socket closed. */
        assert_non_null(strstr(out, "terminating connection due to administrator command"));
        assert_non_null(strstr(out, "inserted 20,000, already present 0, rejected 0"));
        assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), 20000);
        assert_int_equal(harness_query_int(conn, "SELECT sum(axis8)::bigint FROM reading"),
                         (int64_t)19999 * 20000 / 2);
        assert_int_equal(harness_query_int(conn, "SELECT sum(rows_inserted) FROM ingest_batch"),
                         20000);
        free(out);
        free(log);
    }
    PQfinish(conn);
    free(path);
}

static void test_server_restart_during_load(void **state)
{
    (void)state;
    require_db();
    const char *home = getenv("PGPULSE_TEST_HOME");
    PGconn *conn = harness_connect(db);
    reset_readings(conn);
    make_robots(conn, 20);
    PQfinish(conn);
    char *path = tmpfile_path("big3.csv");
    char *log = tmpfile_path("big3.log");
    write_native(path, BIG_ROWS, 20, 1);
    int pid = harness_spawn(NULL, log, (const char *[]){"ingest", "--db", db, "--batch", "5000",
                                                        path, NULL});
    util_sleep_ms(300);
    char *cmd = xasprintf("PGPULSE_HOME='%s' '%s' db stop && sleep 1 && PGPULSE_HOME='%s' '%s' db "
                          "start >/dev/null 2>&1",
                          home, getenv("PGPULSE_BIN"), home, getenv("PGPULSE_BIN"));
    assert_int_equal(system(cmd), 0);
    free(cmd);
    int st = harness_wait(pid, NULL);
    char *out = harness_read_file(log);
    if (st != 0) fail_msg("ingest failed: %s", out);
    assert_non_null(strstr(out, "inserted 300,000, already present 0, rejected 0"));
    free(out);
    conn = harness_connect(db);
    assert_big_load_complete(conn);
    PQfinish(conn);
    free(path);
    free(log);
}

/* ------------------------------------------------------------------------------------------ */
/* Streaming: constant memory, and a trickling pipe is committed without waiting for EOF. */

/* Starts a child writing n native rows to a pipe; returns the read end. */
static int generator_pipe(long n, long offset, int *child)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        FILE *f = fdopen(fds[1], "w");
        fputs("robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n", f);
        for (long i = 0; i < n; i++)
            fprintf(f, "%ld,%ld.%03ld,1.5,2,3,4,5,6,7,%ld\n", 1 + (i % 10),
                    1700000000 + offset + i / 10, (i % 10) * 7, i);
        fclose(f);
        _exit(0);
    }
    close(fds[1]);
    *child = (int)pid;
    return fds[0];
}

static long rss_of_streamed_load(PGconn *conn, long n, long offset)
{
    int gen;
    int rd = generator_pipe(n, offset, &gen);
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", rd);
    int pid = harness_spawn(fdpath, NULL, (const char *[]){"ingest", "--db", db, "-", NULL});
    close(rd);
    long rss = 0;
    assert_int_equal(harness_wait(pid, &rss), 0);
    waitpid(gen, NULL, 0);
    (void)conn;
    return rss;
}

static void test_memory_is_constant(void **state)
{
    (void)state;
    require_db();
    PGconn *conn = harness_connect(db);
    reset_readings(conn);
    make_robots(conn, 10);
    long small = rss_of_streamed_load(conn, 100000, 0);
    long large = rss_of_streamed_load(conn, 1000000, 200000);
    print_message("peak RSS: %ld kB for 100k rows, %ld kB for 1M rows\n", small, large);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), 1100000);
    assert_true(large < small + 4096);
    assert_true(large < 64 * 1024);
    PQfinish(conn);
}

static void test_trickling_pipe_is_committed_before_eof(void **state)
{
    (void)state;
    require_db();
    PGconn *conn = harness_connect(db);
    reset_readings(conn);
    make_robots(conn, 1);
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0); /* the loader must not inherit the write end */
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fds[0]);
    int pid = harness_spawn(fdpath, NULL, (const char *[]){"ingest", "--db", db, "--flush-ms",
                                                           "100", "-", NULL});
    close(fds[0]);
    const char *head = "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n";
    assert_int_equal(write(fds[1], head, strlen(head)), (ssize_t)strlen(head));
    for (int i = 0; i < 10; i++) {
        char line[128];
        int n = snprintf(line, sizeof line, "1,%d,1,2,3,4,5,6,7,8\n", 1700000000 + i);
        assert_int_equal(write(fds[1], line, (size_t)n), n);
    }
    /* The pipe stays open; the rows must still show up (without EOF: the wait only bounds a
     * failure, a loaded machine may take longer to start the load than --flush-ms). */
    int64_t seen = 0;
    for (int i = 0; i < 600 && seen < 10; i++) {
        util_sleep_ms(50);
        seen = harness_query_int(conn, "SELECT count(*) FROM reading");
    }
    assert_int_equal(seen, 10);
    close(fds[1]);
    assert_int_equal(harness_wait(pid, NULL), 0);
    PQfinish(conn);
}

/* A partition dropped under a running load (retention, an operator) is created again and the
 * batch retried, instead of the load failing. */
static void test_partition_dropped_during_load_is_recreated(void **state)
{
    (void)state;
    require_db();
    PGconn *conn = harness_connect(db);
    reset_readings(conn);
    make_robots(conn, 1);
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fds[0]);
    char *log = tmpfile_path("droppart.log");
    int pid = harness_spawn(fdpath, log, (const char *[]){"ingest", "--db", db, "--flush-ms",
                                                          "50", "-", NULL});
    close(fds[0]);
    const char *head = "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n";
    assert_int_equal(write(fds[1], head, strlen(head)), (ssize_t)strlen(head));
    const char *first = "1,2020-02-02T00:00:01Z,1,2,3,4,5,6,7,8\n";
    assert_int_equal(write(fds[1], first, strlen(first)), (ssize_t)strlen(first));
    int64_t seen = 0;
    for (int i = 0; i < 600 && seen < 1; i++) {
        util_sleep_ms(50);
        seen = harness_query_int(conn, "SELECT count(*) FROM reading");
    }
    assert_int_equal(seen, 1);
    harness_exec(conn, "DROP TABLE reading_p20200202");
    const char *more = "1,2020-02-02T00:00:02Z,1,2,3,4,5,6,7,8\n1,2020-02-02T00:00:03Z,1,2,3,4,5,6,7,8\n";
    assert_int_equal(write(fds[1], more, strlen(more)), (ssize_t)strlen(more));
    close(fds[1]);
    int st = harness_wait(pid, NULL);
    char *out = harness_read_file(log);
    if (st != 0) fail_msg("ingest failed: %s", out);
    assert_non_null(strstr(out, "read 3, inserted 3"));
    free(out);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), 2);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading_p20200202"), 2);
    PQfinish(conn);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workshop_export_loads_exactly_once),
        cmocka_unit_test(test_workshop_corrupted_lines_are_rejected_with_line_numbers),
        cmocka_unit_test(test_workshop_format_synthetic),
        cmocka_unit_test(test_native_stdin_exact_values),
        cmocka_unit_test(test_native_bad_rows_are_rejected_and_the_load_goes_on),
        cmocka_unit_test(test_bad_headers_and_empty_input),
        cmocka_unit_test(test_killed_at_random_instants_then_rerun),
        cmocka_unit_test(test_lost_connections_are_retried_without_duplicates),
        cmocka_unit_test(test_server_restart_during_load),
        cmocka_unit_test(test_memory_is_constant),
        cmocka_unit_test(test_trickling_pipe_is_committed_before_eof),
        cmocka_unit_test(test_partition_dropped_during_load_is_recreated),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
